"""The pruner: markers past the retention go, live orders and recent markers stay."""

from __future__ import annotations

import asyncio

from redfire.state.pruner import Pruner
from tests.support.engine import build_engine

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000


def fill(fill_id: str, ts: int) -> dict[str, object]:
    return {"fill_id": fill_id, "order_id": "none", "account": "ACC1", "symbol": "AAPL",
            "side": "BUY", "qty": 1, "price": 10.0, "ts": ts}  # fmt: skip


def order(order_id: str, ts: int) -> dict[str, object]:
    return {"order_id": order_id, "account": "ACC1", "symbol": "AAPL", "side": "BUY",
            "qty": 1, "price": 10.0, "ts": ts}  # fmt: skip


def test_markers_past_the_retention_are_deleted_and_the_rest_kept() -> None:
    engine = build_engine(seen_retention_s=DAY / 1000)
    engine.commands(
        {"command_id": "c1", "command": "SET_CASH", "account": "ACC1", "payload": {"cash": 1e6},
         "ts": T0}
    )  # fmt: skip
    engine.ticks({"symbol": "AAPL", "price": 10.0, "ts": T0})
    engine.orders(order("old-rejected", T0), order("live", T0 + 1))
    engine.fills(fill("old", T0), fill("recent", T0 + 3 * DAY))
    tables = engine.state.tables
    partition = engine.state.partition_of("ACC1")
    pruner = Pruner(engine.state, engine.context.unit, DAY)

    asyncio.run(pruner.run())

    assert tables.seen_fills.get(partition, "ACC1|old") is None
    assert tables.seen_fills.get(partition, "ACC1|recent") is not None
    assert tables.seen_commands.get(partition, "ACC1|c1") is None
    assert "live" in engine.state.account("ACC1").live
    assert tables.orders.get(partition, "ACC1|live") is not None
    assert engine.state.account("ACC1").qty("AAPL") == 2


def test_nothing_is_pruned_before_any_event() -> None:
    engine = build_engine()
    assert asyncio.run(Pruner(engine.state, engine.context.unit, DAY).run()) == 0
