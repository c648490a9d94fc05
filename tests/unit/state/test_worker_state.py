"""The worker's state lifecycle: load what is owned after recovery, drop what is not."""

from __future__ import annotations

from tests.support.engine import build_engine

T0 = 1_700_000_000_000


def fill(account: str, fill_id: str) -> dict[str, object]:
    return {
        "fill_id": fill_id,
        "order_id": "o",
        "account": account,
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 10,
        "price": 10.0,
        "ts": T0,
    }


def test_recovery_loads_only_the_owned_partitions() -> None:
    engine = build_engine()
    accounts = [f"ACC{i}" for i in range(20)]
    engine.fills(*(fill(a, f"f-{a}") for a in accounts))
    restarted = build_engine(tables=engine.state.tables)
    state = restarted.state
    state.on_revoked()
    state.on_recovered({0, 1}, set())

    loaded = set(state.accounts)
    expected = {a for a in accounts if state.partition_of(a) in {0, 1}}
    assert loaded == expected
    for name in loaded:
        assert state.accounts[name].qty("AAPL") == 10


def test_global_mirrors_are_loaded_from_the_stored_tables() -> None:
    engine = build_engine(price_publish_ms=1)
    engine.ticks({"symbol": "AAPL", "price": 123.0, "ts": T0})
    restarted = build_engine(tables=engine.state.tables)

    assert restarted.state.market.last_price("AAPL") == 123.0


def test_restart_prices_owned_symbols_from_their_bars() -> None:
    engine = build_engine(price_publish_ms=3_600_000)
    engine.ticks({"symbol": "AAPL", "price": 100.0, "ts": T0})
    engine.ticks({"symbol": "AAPL", "price": 101.0, "ts": T0 + 5})  # not yet published
    restarted = build_engine(tables=engine.state.tables)

    assert restarted.state.market.last_price("AAPL") == 101.0
