"""A record that cannot be written is never committed past.

Replication 1 on the 3-broker cluster, with the partitions placed so that the orders of
some accounts are read from a live broker while their decisions must be written to the
broker this test SIGKILLs. While it is down, those decisions (and any changelog record
on it) cannot be delivered. The worker may hold the partition until the broker returns,
or exit non-zero so that a supervisor (here, the test) restarts it and the records are
processed again; it must never log the failure, drop the record and commit its input.

After the broker returns, every order has exactly one decision, positions and cash equal
a ledger of the fills, and the reserved buying power equals the sum of the approved
orders' reservations: every table equals a rebuild from its inputs.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2

from tests.plugins.kafka_broker import BrokerNode, KafkaNamespace
from tests.support.cluster import create_placed_topic, leader_of
from tests.support.eventually import eventually
from tests.support.ledger import Ledger, group_lag, wait_until_worker_matches_ledger
from tests.support.mixed import DecisionWatch, now_ms, one_answer_each, reliable_producer, send
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability


CASH = 100_000_000
PARTITIONS = 3
REQUEST_TIMEOUT_S = 10
ACCOUNTS = [f"ACC{i:03d}" for i in range(18)]
PRICES = {"AAPL": 190.0, "MSFT": 410.0}
ORDERS_BEFORE = 3  # per account, decided before the kill
ORDERS_DURING = 6  # per account, sent while the broker is down
COMMITTED_PAST_S = 15.0


def partition_of(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


@pytest.fixture
def placed_worker(
    kafka_cluster_nodes: list[BrokerNode], kafka_namespace: KafkaNamespace, tmp_path: Path
) -> Iterator[RedFireWorker]:
    worker = RedFireWorker(
        bootstrap=",".join(node.bootstrap for node in kafka_cluster_nodes),
        app_id=kafka_namespace.app_id,
        topic_prefix=kafka_namespace.topic_prefix,
        datadir=tmp_path / "data",
        partitions=PARTITIONS,
        extra_env={
            "REDFIRE_DEFAULT_CASH": str(CASH),
            "REDFIRE_REPLICATION_FACTOR": "1",
            "REDFIRE_KAFKA_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
            "REDFIRE_DELIVERY_TIMEOUT_S": str(REQUEST_TIMEOUT_S + 5),
        },
    )
    ids = [node.node_id for node in kafka_cluster_nodes]
    inputs = ids[:PARTITIONS]
    outputs = [ids[(p + 1) % len(ids)] for p in range(PARTITIONS)]
    config = {"min.insync.replicas": "1"}
    for name, brokers in (("orders", inputs), ("fills", inputs), ("order_decisions", outputs)):
        create_placed_topic(worker.bootstrap, worker.topic(name), brokers, config)
    worker.create_topics()
    worker.start()
    yield worker
    worker.stop()


def order(order_id: str, account: str, symbol: str, qty: int) -> dict[str, object]:
    return {
        "order_id": order_id,
        "account": account,
        "symbol": symbol,
        "side": "BUY",
        "qty": qty,
        "price": PRICES[symbol],
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "action": "NEW",
        "ts": now_ms(),
    }


def fill(fill_id: str, account: str, symbol: str, side: str, qty: int) -> dict[str, object]:
    return {
        "fill_id": fill_id,
        "order_id": f"gateway-{fill_id}",
        "account": account,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": PRICES[symbol],
        "fee": 0.25,
        "ts": now_ms(),
    }


def supervise(worker: RedFireWorker, exits: list[int]) -> None:
    """Restart the worker whenever it has exited, as a supervisor would; note the status."""
    code = worker.exit_code
    if code is not None:
        exits.append(code)
        worker.spawn()


def test_an_undeliverable_decision_is_never_committed_past(
    placed_worker: RedFireWorker, kafka_cluster_nodes: list[BrokerNode]
) -> None:
    worker = placed_worker
    victim_id = leader_of(worker.bootstrap, worker.topic("order_decisions"), 0)
    victim = next(node for node in kafka_cluster_nodes if node.node_id == victim_id)
    exposed = [a for a in ACCOUNTS if partition_of(a) == 0]
    assert exposed, "no account reads from a live broker and writes to the killed one"
    rng = random.Random(5)
    producer = reliable_producer(worker.bootstrap)
    watch = DecisionWatch(worker.bootstrap, worker.topic("order_decisions")).start()
    ledger = Ledger(Fraction(CASH))
    orders: list[dict[str, object]] = []

    def send_orders(count: int, accounts: list[str], tag: str) -> None:
        for account in accounts:
            for n in range(count):
                record = order(f"{account}-{tag}{n}", account, rng.choice(list(PRICES)), n + 1)
                orders.append(record)
                send(producer, worker.topic("orders"), account, record)
            for n in range(2):
                side = rng.choice(("BUY", "SELL"))
                record = fill(f"{account}-{tag}F{n}", account, rng.choice(list(PRICES)), side, 5)
                ledger.apply(record)
                send(producer, worker.topic("fills"), account, record)

    for symbol, price in PRICES.items():
        send(
            producer,
            worker.topic("ticks"),
            symbol,
            {"symbol": symbol, "ts": now_ms(), "price": price},
        )
    producer.flush(30)
    send_orders(ORDERS_BEFORE, ACCOUNTS, "B")
    assert producer.flush(60) == 0
    watch.wait_all([str(o["order_id"]) for o in orders], timeout=90)

    exits: list[int] = []
    victim.kill()
    killed = time.monotonic()
    send_orders(ORDERS_DURING, exposed, "D")
    # Long enough for the producer to give up on the stuck writes (the request timeout),
    # or until the worker exits on a failed write.
    with contextlib.suppress(AssertionError):  # holding the partition is as good as exiting
        eventually(
            lambda: worker.exit_code is not None,
            timeout=3 * REQUEST_TIMEOUT_S,
            message="the worker exits on a write it cannot deliver",
        )
    supervise(worker, exits)
    outage = time.monotonic() - killed
    victim.restart()
    assert producer.flush(120) == 0

    order_ids = [str(o["order_id"]) for o in orders]
    wait_for_every_decision(worker, watch, order_ids, exits)
    eventually(
        lambda: worker.exit_code is None and worker.get("/health")["status"] == "ok",
        timeout=120,
        retry_on=(AssertionError, OSError),
    )
    problems = one_answer_each(watch, order_ids)
    assert not problems, f"orders without exactly one answer: {problems[:5]}"
    wait_until_worker_matches_ledger(
        worker.get, ledger, ACCOUNTS, timeout=120, what="positions equal the ledger of the fills"
    )
    assert_reservations_match(worker, orders, watch)
    watch.stop()
    print(
        f"\nfailed send: broker {victim_id} down {outage:.1f}s, {len(exposed)} accounts "
        f"exposed, worker exits {exits or 'none'}, {len(order_ids)} orders all decided once"
    )


def wait_for_every_decision(
    worker: RedFireWorker, watch: DecisionWatch, order_ids: list[str], exits: list[int]
) -> None:
    """Wait until every order is decided, restarting the worker when it exits.

    Fails early once the worker has committed every order while some still have no
    decision, and that stays so for COMMITTED_PAST_S: those inputs were committed past a
    write that never happened, and nothing will ever answer them.
    """
    deadline = time.monotonic() + 120
    committed_since: float | None = None
    while missing := watch.missing(order_ids):
        supervise(worker, exits)
        lag = group_lag(worker.bootstrap, worker.app_id, worker.topic("orders"))
        if lag:
            committed_since = None
        elif committed_since is None:
            committed_since = time.monotonic()
        stuck = (
            committed_since is not None and time.monotonic() - committed_since > COMMITTED_PAST_S
        )
        if stuck:
            raise AssertionError(
                f"{len(missing)} of {len(order_ids)} orders have no decision (e.g. "
                f"{missing[:5]}) although the worker has committed every order for "
                f"{COMMITTED_PAST_S:g}s: their inputs were committed past a failed write. "
                f"Worker exits: {exits}.\n{worker.log_tail(20)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(missing)} of {len(order_ids)} orders have no decision 120s after the "
                f"broker returned (e.g. {missing[:5]}). Worker exits: {exits}, "
                f"uncommitted orders: {lag}.\n{worker.log_tail(20)}"
            )
        time.sleep(0.5)


def assert_reservations_match(
    worker: RedFireWorker, orders: list[dict[str, object]], watch: DecisionWatch
) -> None:
    """Reserved buying power equals the approved buy orders' qty × price, per account."""
    approved = {o for o, ds in watch.by_order().items() if ds[0].decision == "APPROVED"}
    expected: dict[str, Decimal] = {a: Decimal(0) for a in ACCOUNTS}
    for record in orders:
        if record["order_id"] in approved:
            notional = Decimal(str(record["qty"])) * Decimal(str(record["price"]))
            expected[str(record["account"])] += notional

    def matches() -> bool:
        for account, want in expected.items():
            got = worker.get(f"/accounts/{account}/risk")["reserved"]
            assert abs(Decimal(str(got)) - want) < Decimal("0.005"), (
                f"{account}: reserved {got} != {want} from the approved orders"
            )
        return True

    eventually(matches, timeout=60, interval=0.5, retry_on=(AssertionError, OSError))
