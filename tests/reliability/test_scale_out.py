"""Scale out and in under load: 1 → 2 → 3 → 2 workers while a mixed stream runs.

Each change is a rebalance: partitions (and their tables) move between workers while
ticks, orders and fills keep coming. Afterwards every order has exactly one answer (no
order decided twice in contradiction by two owners), and positions and cash equal an
independent ledger of the fills. How long each change kept orders waiting is printed.
Standby replicas (REDFIRE_STANDBY_REPLICAS, faust's table_standby_replicas) are off, as
by default; bench/bench_takeover.py measures what they do to a crash takeover.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction
from pathlib import Path

import pytest

from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.eventually import eventually
from tests.support.ledger import (
    Ledger,
    account_names,
    fill_stream,
    wait_until_worker_matches_ledger,
)
from tests.support.mixed import DecisionWatch, MixedStream, Rates, one_answer_each, worst_latency
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability

CASH = 100_000_000
ACCOUNTS = account_names(16)
PARTITIONS = 4
SETTLE_S = 2.0  # the orders sent this long after a change must all be decided


def test_scaling_1_2_3_2_workers_under_load_keeps_every_account_exact(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace, tmp_path: Path
) -> None:
    workers = [
        RedFireWorker(
            bootstrap=kafka_bootstrap,
            app_id=kafka_namespace.app_id,
            topic_prefix=kafka_namespace.topic_prefix,
            datadir=tmp_path / f"data-{n}",
            partitions=PARTITIONS,
            extra_env={"REDFIRE_DEFAULT_CASH": str(CASH)},
        )
        for n in range(3)
    ]
    first = workers[0]
    first.create_topics()
    first.start()
    fills = fill_stream(random.Random(11), ACCOUNTS, 30)
    ledger = Ledger(Fraction(CASH))
    ledger.apply_all(value for _key, value in fills.records)
    watch = DecisionWatch(kafka_bootstrap, first.topic("order_decisions")).start()
    stream = MixedStream(kafka_bootstrap, first.topic, ACCOUNTS, fills.records, Rates(30, 8, 5))
    stream.opening_ticks()
    stream.start()
    changes = []
    try:
        eventually(lambda: watch.snapshot(), timeout=60, message="a first decision")
        for action, worker in (("start", workers[1]), ("start", workers[2]), ("stop", workers[2])):
            changes.append(change(action, worker, stream, watch))
    finally:
        stream.stop()
    try:
        for worker in workers[:2]:
            assert worker.is_alive(), f"worker {worker.web_port} exited:\n{worker.log_tail(60)}"
        watch.wait_all(stream.order_ids(), timeout=90)
        problems = one_answer_each(watch, stream.order_ids())
        assert not problems, f"{len(problems)} orders without exactly one answer: {problems[:5]}"
        wait_until_worker_matches_ledger(
            first.get, ledger, ACCOUNTS, timeout=120, what="positions after 1 → 2 → 3 → 2 workers"
        )
    finally:
        watch.stop()
        for worker in workers:
            worker.stop()
    print(
        f"\nscale-out, {len(stream.order_ids())} orders, {len(fills.records)} fills: "
        + "; ".join(changes)
    )


def change(action: str, worker: RedFireWorker, stream: MixedStream, watch: DecisionWatch) -> str:
    """Start or stop one worker; wait until orders sent after it are decided; describe it."""
    began = time.monotonic()
    if action == "start":
        worker.start()
    else:
        worker.stop()
    changed = time.monotonic()
    eventually(
        lambda: (
            time.monotonic() - changed > SETTLE_S
            and not watch.missing(
                [o.order_id for o in stream.sent_after(changed) if o.sent < changed + SETTLE_S]
            )
        ),
        timeout=90,
        interval=0.1,
        message=f"orders decided again after the {action} of a worker",
    )
    settled = time.monotonic() - changed
    slowest = worst_latency(stream, watch, began, changed + SETTLE_S)
    return (
        f"{action} took {changed - began:.1f}s, orders flowing {settled:.1f}s later, "
        f"slowest order {slowest:.1f}s"
    )
