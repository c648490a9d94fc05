"""The market desk in-process: newest price wins, one write per symbol per batch."""

from __future__ import annotations

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
