"""Trading days from each market's clock, and the T+1 state that fills move."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from redfire.risk.settlement import (
    DEFAULT_SESSIONS,
    DayPosition,
    SessionClock,
    apply_fill_to_day,
    day_position_on,
    sellable,
    session_clocks,
)


def ms(text: str, zone: str) -> int:
    """Return epoch ms of a local wall time ``YYYY-MM-DD HH:MM`` in ``zone``."""
    local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))
    return int(local.timestamp() * 1000)


@pytest.mark.parametrize(
    ("market", "local", "zone", "trading_date"),
    [
        ("XSHG", "2026-03-02 09:30", "Asia/Shanghai", date(2026, 3, 2)),
        ("XSHG", "2026-03-02 15:25", "Asia/Shanghai", date(2026, 3, 2)),  # STAR after-hours
        ("XSHG", "2026-03-02 15:59", "Asia/Shanghai", date(2026, 3, 2)),
        ("XSHG", "2026-03-02 16:00", "Asia/Shanghai", date(2026, 3, 3)),
        ("XSHE", "2026-03-02 23:30", "Asia/Shanghai", date(2026, 3, 3)),
        ("XSHE", "2026-03-03 00:30", "Asia/Shanghai", date(2026, 3, 3)),
        ("XHKG", "2026-03-02 16:10", "Asia/Hong_Kong", date(2026, 3, 2)),
        ("US", "2026-03-06 19:59", "America/New_York", date(2026, 3, 6)),
        ("US", "2026-03-09 09:30", "America/New_York", date(2026, 3, 9)),  # after the DST change
        ("US", "2026-11-02 20:00", "America/New_York", date(2026, 11, 3)),
    ],
)
def test_trading_day_from_the_market_clock(
    market: str, local: str, zone: str, trading_date: date
) -> None:
    clock = session_clocks()[market]

    assert clock.trading_date(ms(local, zone)) == trading_date


def test_the_cached_day_bounds_agree_with_a_fresh_computation() -> None:
    cached = SessionClock.parse("America/New_York 20:00")
    start = ms("2026-03-05 12:00", "America/New_York")
    for minute in range(0, 6 * 24 * 60, 17):  # across the DST change of 2026-03-08
        ts = start + minute * 60_000
        fresh = SessionClock.parse("America/New_York 20:00")
        assert cached.trading_day(ts) == fresh.trading_day(ts)
        day = fresh.trading_day(ts)
        assert fresh.day_start(day) <= ts < fresh.day_start(day + 1)


def test_a_midnight_day_end_labels_the_calendar_date() -> None:
    clock = SessionClock.parse("UTC 00:00")

    assert clock.trading_date(ms("2026-03-02 00:00", "UTC")) == date(2026, 3, 2)
    assert clock.trading_date(ms("2026-03-02 23:59", "UTC")) == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"XSHG": "Asia/Shangai 15:00"}, "market XSHG: unknown time zone 'Asia/Shangai'"),
        ({"XHKG": "Asia/Hong_Kong"}, "market XHKG: expected 'ZONE HH:MM'"),
        ({"US": "America/New_York 8pm"}, "market US: day end '8pm'"),
    ],
)
def test_bad_session_settings_are_refused_naming_the_market(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        session_clocks(overrides)


def test_overrides_merge_with_the_defaults() -> None:
    clocks = session_clocks({"XSHG": "Asia/Shanghai 15:30"})

    assert clocks["XSHG"].describe() == "Asia/Shanghai 15:30"
    assert clocks["XSHE"].describe() == DEFAULT_SESSIONS["XSHE"]


# --- T+1 state ----------------------------------------------------------------------------

MON, TUE = 20_000, 20_001


def test_a_new_day_starts_from_the_position_held() -> None:
    state = DayPosition(MON, start_qty=0.0, sold_qty=0.0)
    state = apply_fill_to_day(state, MON, "BUY", 1_000.0, position_before=0.0)
    assert state == DayPosition(MON, 0.0, 0.0)

    assert day_position_on(state, TUE, position_qty=1_000.0) == DayPosition(TUE, 1_000.0, 0.0)
    assert day_position_on(state, MON, position_qty=1_000.0) is state


def test_sells_count_against_today_and_buys_do_not() -> None:
    state = DayPosition(TUE, start_qty=1_000.0)
    state = apply_fill_to_day(state, TUE, "SELL", 300.0, position_before=1_000.0)
    state = apply_fill_to_day(state, TUE, "BUY", 500.0, position_before=700.0)

    assert state == DayPosition(TUE, 1_000.0, 300.0)
    assert sellable(state, TUE, position_qty=1_200.0, open_sell_qty=200.0).available == 500.0


def test_the_first_fill_of_a_day_rolls_the_day_over() -> None:
    monday = DayPosition(MON, start_qty=0.0)

    state = apply_fill_to_day(monday, TUE, "SELL", 100.0, position_before=800.0)

    assert state == DayPosition(TUE, 800.0, 100.0)


def test_a_late_fill_of_an_earlier_day_moves_the_start_of_day() -> None:
    state = DayPosition(TUE, start_qty=1_000.0, sold_qty=0.0)

    bought_monday = apply_fill_to_day(state, MON, "BUY", 200.0, position_before=1_000.0)
    sold_monday = apply_fill_to_day(state, MON, "SELL", 200.0, position_before=1_000.0)

    assert bought_monday == DayPosition(TUE, 1_200.0, 0.0)
    assert sold_monday == DayPosition(TUE, 800.0, 0.0)


def test_sellable_never_goes_below_zero_and_survives_a_round_trip() -> None:
    state = DayPosition(TUE, start_qty=100.0, sold_qty=100.0)

    assert sellable(state, TUE, 0.0, open_sell_qty=50.0).available == 0.0
    assert DayPosition.from_dict(state.to_dict()) == state
    assert sellable(None, TUE, position_qty=400.0).available == 400.0
