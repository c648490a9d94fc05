"""A SIGKILLed broker of three stalls decisions for seconds, and loses or doubles nothing.

The anchor is Kafka Streams' streams_broker_bounce_test: three brokers, replication 3,
min ISR 2, acks=all, the leader broker killed and brought back, three times, while a
mixed stream (ticks, orders, fills) runs. Each time, the broker that leads the most of
this test's partitions (RedFire's topics and faust's changelogs) is SIGKILLed. The
worker must go on deciding within 30 s (DESIGN §11), every order gets exactly one
answer, and positions and cash equal an independent ledger of the fills.

The stall (longest time with no decision arriving, and the slowest send → decision of an
order sent while the broker was down) is printed for the README's reliability section.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from tests.plugins.kafka_broker import BrokerNode, KafkaNamespace
from tests.support.cluster import (
    OFFSETS_TOPIC,
    durability_of,
    leaders,
    topics_of,
    wait_in_sync,
)
from tests.support.eventually import eventually
from tests.support.ledger import (
    Ledger,
    account_names,
    fill_stream,
    wait_until_worker_matches_ledger,
)
from tests.support.mixed import (
    DecisionWatch,
    MixedStream,
    Rates,
    longest_gap,
    one_answer_each,
    worst_latency,
)
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability

CASH = 100_000_000
ACCOUNTS = account_names(12)
FILLS_PER_ACCOUNT = 40
BOUNCES = 3
RESUME_WITHIN_S = 30.0  # DESIGN §11: a SIGKILLed broker of 3 stalls decisions for <= 30 s
FIRST_AFTER_KILL_S = 2.0  # the orders sent this long after a kill must all be decided in time


@pytest.fixture
def cluster_worker(
    kafka_cluster_nodes: list[BrokerNode], kafka_namespace: KafkaNamespace, tmp_path: Path
) -> Iterator[RedFireWorker]:
    worker = RedFireWorker(
        bootstrap=",".join(node.bootstrap for node in kafka_cluster_nodes),
        app_id=kafka_namespace.app_id,
        topic_prefix=kafka_namespace.topic_prefix,
        datadir=tmp_path / "data",
        partitions=3,
        extra_env={"REDFIRE_DEFAULT_CASH": str(CASH)},
    )
    worker.create_topics()
    worker.start()
    yield worker
    worker.stop()


def namespace_topics(worker: RedFireWorker) -> list[str]:
    """Return this test's topics: RedFire's (by prefix) and faust's (by app id)."""
    return topics_of(worker.bootstrap, [worker.topic_prefix, f"{worker.app_id}-"])


def assert_every_topic_is_durable(worker: RedFireWorker) -> list[str]:
    names = namespace_topics(worker)
    found = durability_of(worker.bootstrap, names)
    weak = {n: d for n, d in found.items() if d.replicas < 3 or d.min_insync < 2}
    assert len(found) >= 20, f"expected RedFire's and faust's topics, found {sorted(found)}"
    assert not weak, f"topics without replication 3 and min.insync.replicas 2: {weak}"
    return names


def test_killed_leader_broker_stalls_decisions_briefly_and_loses_nothing(
    cluster_worker: RedFireWorker, kafka_cluster_nodes: list[BrokerNode]
) -> None:
    worker = cluster_worker
    names = assert_every_topic_is_durable(worker)
    fills = fill_stream(random.Random(3), ACCOUNTS, FILLS_PER_ACCOUNT)
    ledger = Ledger(Fraction(CASH))
    ledger.apply_all(value for _key, value in fills.records)
    watch = DecisionWatch(worker.bootstrap, worker.topic("order_decisions")).start()
    stream = MixedStream(
        worker.bootstrap, worker.topic, ACCOUNTS, fills.records, Rates(ticks=40, orders=8, fills=5)
    )
    stream.opening_ticks()
    stream.start()
    eventually(lambda: watch.snapshot(), timeout=60, message="a first decision")
    bounces = []
    try:
        for _ in range(BOUNCES):
            bounces.append(bounce_busiest_broker(worker, kafka_cluster_nodes, names, stream, watch))
    finally:
        stream.stop()
    watch.wait_all(stream.order_ids(), timeout=90)
    wait_until_worker_matches_ledger(
        worker.get, ledger, ACCOUNTS, timeout=120, what="positions after 3 broker bounces"
    )
    problems = one_answer_each(watch, stream.order_ids())
    watch.stop()
    assert not problems, f"{len(problems)} orders without exactly one answer: {problems[:5]}"
    assert worker.is_alive()
    report = "; ".join(
        f"broker {b['broker']} (led {b['led']}): deciding again after {b['resumed']:.1f}s, "
        f"longest gap {b['gap']:.1f}s, slowest order {b['worst']:.1f}s, in sync {b['in_sync']:.1f}s"
        for b in bounces
    )
    print(f"\nfailover, {len(stream.order_ids())} orders, {len(fills.records)} fills: {report}")


def bounce_busiest_broker(
    worker: RedFireWorker,
    nodes: list[BrokerNode],
    names: list[str],
    stream: MixedStream,
    watch: DecisionWatch,
) -> dict[str, float]:
    """SIGKILL the broker leading most partitions, wait for decisions, restart it."""
    broker, led = leaders(worker.bootstrap, names).most_common(1)[0]
    node = next(n for n in nodes if n.node_id == broker)
    killed = time.monotonic()
    node.kill()
    eventually(
        lambda: (
            time.monotonic() - killed > FIRST_AFTER_KILL_S
            and not watch.missing(
                [
                    o.order_id
                    for o in stream.sent_after(killed)
                    if o.sent < killed + FIRST_AFTER_KILL_S
                ]
            )
        ),
        timeout=RESUME_WITHIN_S,
        interval=0.1,
        message=f"every order sent in the {FIRST_AFTER_KILL_S:g}s after broker {broker} died "
        f"is decided within {RESUME_WITHIN_S:g}s",
    )
    resumed = time.monotonic() - killed
    node.restart()
    restarted = time.monotonic()
    in_sync = wait_in_sync(worker.bootstrap, [*names, OFFSETS_TOPIC])
    watch.wait_all([o.order_id for o in stream.sent_after(killed)], timeout=60)
    return {
        "broker": broker,
        "led": led,
        "resumed": resumed,
        "gap": longest_gap(watch, killed, restarted),
        "worst": worst_latency(stream, watch, killed, restarted),
        "in_sync": in_sync,
    }
