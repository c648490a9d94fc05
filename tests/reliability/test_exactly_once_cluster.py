"""processing_guarantee=exactly_once on the 3-broker KRaft cluster.

Correctness never rests on EOS (fills are idempotent by fill_id), but the
setting must work: on a replicated cluster, with duplicates redelivered, the
positions and cash equal an independent ledger.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.eventually import eventually
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability

T0 = 1_700_000_000_000
ACCOUNTS = [f"EOS{i}" for i in range(6)]
SYMBOLS = ["AAPL", "MSFT", "NVDA"]


@pytest.fixture
def cluster_worker(
    kafka_cluster: str,
    kafka_namespace: KafkaNamespace,
    tmp_path: Path,
) -> Iterator[RedFireWorker]:
    worker = RedFireWorker(
        bootstrap=kafka_cluster,
        app_id=kafka_namespace.app_id,
        topic_prefix=kafka_namespace.topic_prefix,
        datadir=tmp_path / "data",
        partitions=3,
        extra_env={
            "REDFIRE_PROCESSING_GUARANTEE": "exactly_once",
            "REDFIRE_REPLICATION_FACTOR": "3",
            "REDFIRE_DEFAULT_CASH": "1000000",
        },
    )
    worker.create_topics()
    worker.start()
    yield worker
    worker.stop()


Book = dict[str, tuple[dict[str, int], Fraction]]


def make_fills(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "fill_id": f"f{i}",
            "order_id": f"o{i}",
            "account": rng.choice(ACCOUNTS),
            "symbol": rng.choice(SYMBOLS),
            "side": rng.choice(["BUY", "SELL"]),
            "qty": rng.randint(1, 50),
            "price": round(rng.uniform(50, 150), 2),
            "fee": round(rng.uniform(0, 2), 2),
            "ts": T0 + i,
        }
        for i in range(count)
    ]


def expected_qty_and_cash(
    fills: list[dict[str, Any]],
) -> dict[str, tuple[dict[str, int], Fraction]]:
    """Return account → (symbol → qty, cash) from an independent running sum."""
    books: Book = {a: ({}, Fraction(1_000_000)) for a in ACCOUNTS}
    for fill in fills:
        qtys, cash = books[fill["account"]]
        sign = 1 if fill["side"] == "BUY" else -1
        qtys[fill["symbol"]] = qtys.get(fill["symbol"], 0) + sign * fill["qty"]
        notional = Fraction(str(fill["price"])) * fill["qty"]
        books[fill["account"]] = (qtys, cash - sign * notional - Fraction(str(fill["fee"])))
    return books


def account_state(worker: RedFireWorker, account: str) -> tuple[dict[str, int], Fraction]:
    body = worker.get(f"/accounts/{account}/positions")
    qtys = {p["symbol"]: round(p["qty"]) for p in body["positions"]}
    return qtys, Fraction(str(round(body["cash"], 2)))


def matches(worker: RedFireWorker, expected: Book) -> bool:
    for account, (qtys, cash) in expected.items():
        got_qtys, got_cash = account_state(worker, account)
        want = {s: q for s, q in qtys.items()}
        if {s: got_qtys.get(s, 0) for s in want} != want:
            return False
        if got_cash != Fraction(str(round(float(cash), 2))):
            return False
    return True


def test_exactly_once_worker_on_the_cluster_counts_every_fill_once(
    cluster_worker: RedFireWorker,
) -> None:
    fills = make_fills(2000)
    prod = producer(cluster_worker.bootstrap)
    for fill in fills + fills[:300]:  # the last 300 are redelivered duplicates
        send_json(prod, cluster_worker.topic("fills"), fill["account"], fill)
    prod.flush(120)

    everything = expected_qty_and_cash(fills)
    try:
        eventually(lambda: matches(cluster_worker, everything), timeout=180, interval=0.5)
    except AssertionError:
        got = {a: account_state(cluster_worker, a) for a in ACCOUNTS}
        raise AssertionError(
            f"expected {everything}\ngot {got}\n{cluster_worker.log_tail(80)}"
        ) from None
    assert cluster_worker.is_alive()
    letters = TopicReader(cluster_worker.bootstrap, cluster_worker.topic("dead_letters"))
    letters.poll(1.0)
    assert letters.records == []
    letters.close()
