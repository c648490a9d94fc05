"""Positions, cash and realized PnL over HTTP equal an independent exact ledger (real Kafka)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from tests.conftest import WorkerFactory
from tests.support.kafka_io import producer
from tests.support.ledger import (
    Ledger,
    account_names,
    fill_stream,
    send_fills,
    wait_until_consumed,
    wait_until_worker_matches_ledger,
)
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

OPENING_CASH = 1_000_000
ACCOUNTS = 50
FILLS_PER_ACCOUNT = 400  # 20,000 distinct fills, plus 5% re-sent
PARTITIONS = 4


def test_20k_fills_with_duplicates_and_shuffles_match_the_exact_ledger(
    redfire_worker: WorkerFactory,
) -> None:
    worker: RedFireWorker = redfire_worker(
        partitions=PARTITIONS, REDFIRE_DEFAULT_CASH=str(OPENING_CASH)
    )
    stream = fill_stream(random.Random(20_000), account_names(ACCOUNTS), FILLS_PER_ACCOUNT)
    assert stream.distinct == 20_000 and stream.duplicates == 1_000
    ledger = Ledger(Fraction(OPENING_CASH))
    assert ledger.apply_all(value for _key, value in stream.records) == stream.distinct

    sent_in = send_fills(producer(worker.bootstrap), worker.topic("fills"), stream.records)
    consumed_in = wait_until_consumed(
        worker.bootstrap, worker.app_id, worker.topic("fills"), timeout=240
    )
    wait_until_worker_matches_ledger(
        worker.get, ledger, stream.accounts(), timeout=15, what="positions equal the ledger"
    )
    assert worker.is_alive(), worker.log_tail()
    print(
        f"\nsent {len(stream.records)} fills in {sent_in:.1f}s; "
        f"all consumed {consumed_in:.1f}s after the last send"
    )
