"""The market desk in-process: newest price wins, one write per symbol per batch."""

from __future__ import annotations

import json

from redfire.agents.intake import Envelope
from tests.support.engine import build_engine

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000


def test_older_tick_never_overwrites_a_newer_price() -> None:
    engine = build_engine()
    engine.ticks(
        {"symbol": "AAPL", "price": 101.0, "ts": T0 + 10},
        {"symbol": "AAPL", "price": 99.0, "ts": T0},
    )

    assert engine.state.market.last_price("AAPL") == 101.0


def test_bar_is_written_once_per_batch() -> None:
    engine = build_engine()
    engine.ticks(*({"symbol": "AAPL", "price": 100.0 + i, "ts": T0 + i} for i in range(100)))

    bars = [s for s in engine.producer.sent if s.topic == "changelog-bars"]
    assert len(bars) == 1
    assert bars[0].json()["close"] == 199.0


def test_closed_bar_appends_one_return_to_the_window() -> None:
    engine = build_engine()
    engine.ticks({"symbol": "AAPL", "price": 100.0, "ts": T0})
    engine.ticks({"symbol": "AAPL", "price": 110.0, "ts": T0 + DAY})
    engine.ticks({"symbol": "AAPL", "price": 99.0, "ts": T0 + 2 * DAY})

    window = engine.state.market.window("AAPL")
    assert window is not None
    assert list(window.returns) == [110.0 / 100.0 - 1.0]


def test_prices_reach_the_global_table_at_most_once_per_interval() -> None:
    engine = build_engine(price_publish_ms=60_000)
    for i in range(5):
        engine.ticks({"symbol": "AAPL", "price": 100.0 + i, "ts": T0 + i})

    prices = [s for s in engine.producer.sent if s.topic == "changelog-prices"]
    assert len(prices) == 1
    assert "AAPL" in engine.desks.market.unpublished


def test_bad_tick_is_dead_lettered_and_the_batch_goes_on() -> None:
    engine = build_engine()
    engine.ticks(
        {"symbol": "AAPL", "price": -1.0, "ts": T0}, {"symbol": "MSFT", "price": 400.0, "ts": T0}
    )

    (letter,) = engine.dead_letters()
    assert letter["reason"] == "non_positive"
    assert engine.state.market.last_price("MSFT") == 400.0


def test_a_record_whose_handling_fails_is_dead_lettered_and_the_batch_goes_on() -> None:
    engine = build_engine()
    desk = engine.desks.market
    apply = desk.apply

    def broken_for_bad(tick, partition, uow):  # type: ignore[no-untyped-def]
        if tick.symbol == "BAD":
            raise ZeroDivisionError("a bug")
        apply(tick, partition, uow)

    desk.apply = broken_for_bad  # type: ignore[method-assign]
    engine.ticks(
        {"symbol": "BAD", "price": 1.0, "ts": T0}, {"symbol": "MSFT", "price": 400.0, "ts": T0}
    )

    (letter,) = engine.dead_letters()
    assert letter["reason"] == "processing_error"
    assert "ZeroDivisionError: a bug" in letter["error"]
    assert engine.state.market.last_price("MSFT") == 400.0


def test_a_batch_record_of_ticks_is_applied_tick_by_tick() -> None:
    engine = build_engine()
    ticks = [{"symbol": "AAPL", "price": 100.0 + i, "ts": T0 + i} for i in range(5)]
    owner = engine.envelope(engine.names.ticks, "AAPL", b"").partition
    batch = json.dumps([*ticks, {"symbol": "AAPL", "price": -1, "ts": T0 + 9}]).encode()
    envelope = Envelope(engine.names.ticks, owner, 0, None, batch)
    engine.run(engine.desks.market.handle([envelope]))

    assert engine.state.market.last_price("AAPL") == 104.0
    (letter,) = engine.dead_letters()
    assert letter["reason"] == "non_positive"
    assert letter["error"].startswith("tick 6 of 6:")


def test_ticks_of_a_batch_owned_elsewhere_are_forwarded_one_by_one() -> None:
    engine = build_engine()
    symbols = [f"S{i}" for i in range(8)]
    here = engine.envelope(engine.names.ticks, symbols[0], b"").partition
    batch = json.dumps([{"symbol": s, "price": 10.0, "ts": T0} for s in symbols]).encode()
    engine.run(engine.desks.market.handle([Envelope(engine.names.ticks, here, 0, None, batch)]))

    forwarded = [s for s in engine.producer.sent if s.topic == engine.names.ticks]
    elsewhere = [s for s in symbols if engine.state.partition_of(s) != here]
    assert sorted(f.json()["symbol"] for f in forwarded) == sorted(elsewhere)
    assert all(f.partition == engine.state.partition_of(f.json()["symbol"]) for f in forwarded)
    for symbol in set(symbols) - set(elsewhere):
        assert engine.state.market.last_price(symbol) == 10.0
