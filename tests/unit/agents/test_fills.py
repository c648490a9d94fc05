"""The fill desk in-process: positions and cash exactly once, across redelivery and restarts."""

from __future__ import annotations

from typing import Any

from redfire.state.durable import MemoryPartitionStore
from tests.support.engine import build_engine

T0 = 1_700_000_000_000


def fill(
    fill_id: str, qty: float, price: float, side: str = "BUY", **fields: Any
) -> dict[str, Any]:
    body = {
        "fill_id": fill_id,
        "order_id": f"ord-{fill_id}",
        "account": "ACC1",
        "symbol": "AAPL",
        "side": side,
        "qty": qty,
        "price": price,
        "fee": 1.0,
        "ts": T0,
    }
    body.update(fields)
    return body


def test_fills_move_position_cash_and_realized_pnl() -> None:
    engine = build_engine()
    engine.fills(fill("f1", 100, 10.0), fill("f2", 40, 12.0, side="SELL"))

    account = engine.state.account("ACC1")
    position = account.position("AAPL").position
    assert float(position.qty) == 60
    assert float(position.realized_pnl) == 40 * 2.0
    assert float(account.cash) == -100 * 10.0 - 1.0 + 40 * 12.0 - 1.0


def test_fill_id_seen_at_another_offset_is_a_duplicate() -> None:
    engine = build_engine()
    engine.fills(fill("f1", 100, 10.0))
    engine.fills(fill("f1", 100, 10.0))

    assert float(engine.state.account("ACC1").position("AAPL").position.qty) == 100


def test_each_key_is_written_once_per_batch() -> None:
    engine = build_engine()
    engine.fills(*(fill(f"f{i}", 1, 10.0) for i in range(50)))

    changelogs = [s.topic for s in engine.producer.sent if s.topic.startswith("changelog-")]
    assert changelogs.count("changelog-positions") == 1
    assert changelogs.count("changelog-accounts") == 1
    assert changelogs.count("changelog-seen_fills") == 50


def test_redelivery_after_a_partial_flush_applies_each_fill_once() -> None:
    engine = build_engine()
    first = [engine.envelope(engine.names.fills, "ACC1", fill(f"f{i}", 10, 10.0)) for i in range(3)]
    engine.redeliver(first, engine.names.fills)
    # A crash lost the positions table's last write but kept the others.
    positions = engine.state.tables.positions.store
    assert isinstance(positions, MemoryPartitionStore)
    partition = first[0].partition
    positions.data[partition] = {}

    restarted = build_engine(tables=engine.state.tables)
    restarted.redeliver(first, restarted.names.fills)

    account = restarted.state.account("ACC1")
    assert float(account.position("AAPL").position.qty) == 30
    assert float(account.cash) == -3 * (10 * 10.0 + 1.0)


def test_fill_for_an_unknown_order_still_moves_the_position() -> None:
    engine = build_engine()
    engine.fills(fill("f1", 5, 10.0, order_id="never-seen"))

    assert float(engine.state.account("ACC1").position("AAPL").position.qty) == 5


def test_duplicate_within_one_batch_is_applied_once() -> None:
    engine = build_engine()
    engine.fills(fill("f1", 100, 10.0), fill("f2", 5, 10.0), fill("f1", 100, 10.0))

    assert float(engine.state.account("ACC1").position("AAPL").position.qty) == 105
