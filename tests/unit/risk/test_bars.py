"""Bars from ticks and the return window: bucketing, late/duplicate ticks, gaps, backfill."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redfire.risk.bars import (
    Bar,
    ReturnWindow,
    TickOutcome,
    TickStatus,
    bar_start,
    close_bar,
    on_tick,
    parse_interval,
    resize_window,
    returns_from_closes,
    window_array,
)

MINUTE = 60_000
T0 = 1_700_000_040_000  # a minute boundary


def feed(
    ticks: list[tuple[int, float, float]],
    capacity: int = 250,
    interval_ms: int = MINUTE,
    window: ReturnWindow | None = None,
) -> list[TickOutcome]:
    """Feed (ts, price, volume) ticks from no bar; return every outcome."""
    bar: Bar | None = None
    state = window if window is not None else ReturnWindow.empty(capacity)
    outcomes = []
    for ts, price, volume in ticks:
        outcome = on_tick(bar, state, ts, price, volume, interval_ms=interval_ms)
        bar, state = outcome.bar, outcome.window
        outcomes.append(outcome)
    return outcomes


# --- intervals and buckets ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1d", 86_400_000),
        ("1h", 3_600_000),
        ("5m", 300_000),
        ("1m", 60_000),
        ("30s", 30_000),
        ("250ms", 250),
        (" 15m ", 900_000),
    ],
)
def test_parse_interval(text: str, ms: int) -> None:
    assert parse_interval(text) == ms


@pytest.mark.parametrize("text", ["", "1", "m", "0s", "1.5m", "-1m", "1M", "1w", "1 m", "ms"])
def test_parse_interval_refuses_bad_strings_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. '1m'"):
        parse_interval(text)


def test_bar_start_aligns_to_utc_epoch() -> None:
    ts = int(datetime(2024, 1, 2, 10, 17, 42, 123_000, tzinfo=UTC).timestamp() * 1000)
    midnight = int(datetime(2024, 1, 2, tzinfo=UTC).timestamp() * 1000)
    five = int(datetime(2024, 1, 2, 10, 15, tzinfo=UTC).timestamp() * 1000)
    assert bar_start(ts, parse_interval("1d")) == midnight
    assert bar_start(ts, parse_interval("5m")) == five
    assert bar_start(five, parse_interval("5m")) == five


def test_bar_start_refuses_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        bar_start(T0, 0)


# --- ticks within and across bars -----------------------------------------------


def test_first_tick_opens_a_bar_and_leaves_the_window_alone() -> None:
    [outcome] = feed([(T0 + 5, 100.0, 2.0)])
    assert outcome.status is TickStatus.NEW_BAR
    assert outcome.bar == Bar(T0, 100.0, 100.0, 100.0, 100.0, 2.0, T0 + 5)
    assert outcome.closed_bar is None
    assert outcome.window == ReturnWindow.empty(250)
    assert outcome.bar_changed and not outcome.window_changed


def test_ticks_in_the_same_bucket_build_ohlcv() -> None:
    outcomes = feed(
        [(T0, 100.0, 1.0), (T0 + 10, 103.0, 2.0), (T0 + 20, 98.0, 3.0), (T0 + 30, 101.0, 4.0)]
    )
    assert [o.status for o in outcomes[1:]] == [TickStatus.APPLIED] * 3
    assert outcomes[-1].bar == Bar(T0, 100.0, 103.0, 98.0, 101.0, 10.0, T0 + 30)


def test_first_closed_bar_only_sets_last_close() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0 + MINUTE, 101.0, 1.0)])
    last = outcomes[-1]
    assert last.status is TickStatus.NEW_BAR
    assert last.closed_bar is not None and last.closed_bar.close == 100.0
    assert last.window.returns == ()
    assert last.window.last_close == 100.0
    assert last.window.last_bar_start == T0
    assert last.window_changed


def test_next_closed_bar_appends_its_simple_return() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0 + MINUTE, 110.0, 1.0), (T0 + 2 * MINUTE, 99.0, 1.0)])
    window = outcomes[-1].window
    assert window.returns == pytest.approx((0.1,))
    assert window.last_close == 110.0
    assert window.last_bar_start == T0 + MINUTE
    assert outcomes[-1].bar == Bar(T0 + 2 * MINUTE, 99.0, 99.0, 99.0, 99.0, 1.0, T0 + 2 * MINUTE)


def test_duplicate_tick_is_ignored() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0 + 7, 101.0, 1.0), (T0 + 7, 101.0, 1.0)])
    assert outcomes[-1].status is TickStatus.DUPLICATE
    assert outcomes[-1].bar == outcomes[-2].bar
    assert not outcomes[-1].bar_changed


def test_same_ts_with_a_new_price_is_applied() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0, 101.0, 1.0)])
    assert outcomes[-1].status is TickStatus.APPLIED
    assert outcomes[-1].bar is not None and outcomes[-1].bar.close == 101.0


def test_late_tick_never_rewrites_a_closed_bar() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0 + MINUTE, 101.0, 1.0), (T0 + 30, 500.0, 9.0)])
    late = outcomes[-1]
    assert late.status is TickStatus.LATE
    assert late.bar == outcomes[-2].bar
    assert late.window == outcomes[-2].window
    assert late.closed_bar is None
    assert not late.bar_changed and not late.window_changed


def test_tick_in_a_skipped_bucket_behind_the_current_bar_is_late() -> None:
    outcomes = feed([(T0, 100.0, 1.0), (T0 + 5 * MINUTE, 101.0, 1.0), (T0 + 2 * MINUTE, 1.0, 1.0)])
    assert outcomes[-1].status is TickStatus.LATE


def test_late_tick_with_no_open_bar_is_checked_against_the_window() -> None:
    window = ReturnWindow(capacity=5, returns=(), last_close=100.0, last_bar_start=T0)
    outcome = on_tick(None, window, T0 + 59_999, 120.0, 1.0, interval_ms=MINUTE)
    assert outcome.status is TickStatus.LATE
    assert outcome.bar is None
    assert outcome.window == window


def test_out_of_order_tick_in_the_open_bar_moves_high_low_volume_but_not_close() -> None:
    outcomes = feed(
        [(T0 + 10, 100.0, 1.0), (T0 + 20, 101.0, 1.0), (T0 + 15, 105.0, 2.0), (T0 + 16, 95.0, 1.0)]
    )
    assert [o.status for o in outcomes[2:]] == [TickStatus.OUT_OF_ORDER_IN_BAR] * 2
    assert outcomes[-1].bar == Bar(T0, 100.0, 105.0, 95.0, 101.0, 5.0, T0 + 20)


def test_gap_records_one_return_spanning_the_missing_bars() -> None:
    outcomes = feed(
        [
            (T0, 100.0, 1.0),
            (T0 + MINUTE, 110.0, 1.0),
            (T0 + 5 * MINUTE, 121.0, 1.0),  # buckets 2..4 had no ticks
            (T0 + 6 * MINUTE, 100.0, 1.0),
        ]
    )
    assert outcomes[2].closed_bar is not None and outcomes[2].closed_bar.start == T0 + MINUTE
    window = outcomes[-1].window
    assert window.returns == pytest.approx((0.1, 0.1))
    assert window.last_bar_start == T0 + 5 * MINUTE


def test_window_keeps_only_the_newest_returns() -> None:
    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0]
    ticks = [(T0 + i * MINUTE, price, 1.0) for i, price in enumerate(closes)]
    window = feed(ticks, capacity=3)[-1].window
    assert window.returns == pytest.approx(tuple(closes[i] / closes[i - 1] - 1 for i in (3, 4, 5)))
    assert window.last_close == 105.0


def test_backfilled_window_continues_from_its_last_close() -> None:
    window = returns_from_closes([100.0, 200.0], capacity=5)
    outcomes = feed([(T0, 210.0, 1.0), (T0 + MINUTE, 1.0, 1.0)], window=window)
    assert outcomes[0].status is TickStatus.NEW_BAR
    assert outcomes[-1].window.returns == pytest.approx((1.0, 0.05))


def test_close_bar_can_close_the_last_bar_of_a_session() -> None:
    bar = Bar(T0, 1.0, 1.0, 1.0, 50.0, 1.0, T0)
    window = close_bar(ReturnWindow(4, (), 40.0, T0 - MINUTE), bar)
    assert window.returns == pytest.approx((0.25,))
    assert window.last_bar_start == T0


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf")])
def test_on_tick_refuses_prices_the_codec_should_have_caught(price: float) -> None:
    with pytest.raises(ValueError):
        on_tick(None, ReturnWindow.empty(3), T0, price, 1.0, interval_ms=MINUTE)


# --- backfill, arrays, serialization --------------------------------------------


def test_backfill_equals_pandas_pct_change() -> None:
    closes = [100.0, 101.5, 99.25, 99.25, 104.0, 103.1, 110.7]
    expected = pd.Series(closes).pct_change().dropna().to_numpy()
    window = returns_from_closes(closes, capacity=250)
    np.testing.assert_allclose(window_array(window), expected, rtol=0, atol=1e-15)
    assert window.last_close == 110.7
    assert window.last_bar_start is None


def test_backfill_keeps_the_newest_returns_within_capacity() -> None:
    closes = [float(c) for c in range(100, 120)]
    expected = pd.Series(closes).pct_change().dropna().to_numpy()[-4:]
    window = returns_from_closes(closes, capacity=4, last_bar_start=T0)
    np.testing.assert_allclose(window_array(window), expected, rtol=0, atol=1e-15)
    assert window.last_bar_start == T0


def test_backfill_of_fewer_than_two_closes() -> None:
    assert returns_from_closes([], 3) == ReturnWindow.empty(3)
    assert returns_from_closes([5.0], 3) == ReturnWindow(3, (), 5.0, None)


def test_backfill_refuses_non_positive_closes() -> None:
    with pytest.raises(ValueError):
        returns_from_closes([1.0, 0.0, 2.0], 3)


def test_window_array_is_float64_oldest_first() -> None:
    array = window_array(ReturnWindow(3, (0.1, -0.2), 1.0, T0))
    assert array.dtype == np.float64
    assert array.tolist() == [0.1, -0.2]
    assert window_array(ReturnWindow.empty(3)).shape == (0,)


def test_bar_and_window_round_trip_through_json() -> None:
    bar = Bar(T0, 1.5, 2.25, 1.25, 2.0, 10.0, T0 + 3)
    window = ReturnWindow(4, (0.01, -0.02), 2.0, T0)
    assert Bar.from_dict(json.loads(json.dumps(bar.to_dict()))) == bar
    assert ReturnWindow.from_dict(json.loads(json.dumps(window.to_dict()))) == window
    empty = ReturnWindow.empty(4)
    assert ReturnWindow.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty


def test_window_refuses_bad_capacity() -> None:
    with pytest.raises(ValueError):
        ReturnWindow.empty(0)
    with pytest.raises(ValueError):
        ReturnWindow(1, (0.1, 0.2), None, None)


def test_resize_window_keeps_the_newest_returns() -> None:
    window = ReturnWindow(4, (0.1, 0.2, 0.3, 0.4), 9.0, T0)
    assert resize_window(window, 2) == ReturnWindow(2, (0.3, 0.4), 9.0, T0)
    assert resize_window(window, 10).returns == window.returns


# --- replay equals an independent batch computation -----------------------------

tick_lists = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=20 * MINUTE),
        st.floats(min_value=1.0, max_value=1000.0, allow_nan=False),
        st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda tick: tick[0],
)


@settings(max_examples=100, deadline=None)
@given(ticks=tick_lists, capacity=st.integers(min_value=1, max_value=8))
def test_in_order_replay_matches_a_pandas_groupby(
    ticks: list[tuple[int, float, float]], capacity: int
) -> None:
    ordered = sorted((T0 + ts, price, volume) for ts, price, volume in ticks)
    outcomes = feed(ordered, capacity=capacity)
    frame = pd.DataFrame(ordered, columns=["ts", "price", "volume"])
    frame["bucket"] = frame["ts"] - frame["ts"] % MINUTE
    bars = frame.groupby("bucket").agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("volume", "sum"),
    )
    closed = bars.iloc[:-1]  # the newest bar is still open
    expected = closed["close"].pct_change().dropna().to_numpy()[-capacity:]

    assert all(o.status in (TickStatus.APPLIED, TickStatus.NEW_BAR) for o in outcomes)
    np.testing.assert_allclose(window_array(outcomes[-1].window), expected, rtol=1e-12)
    last_bar = outcomes[-1].bar
    assert last_bar is not None and last_bar.start == bars.index[-1]
    assert last_bar.close == bars["close"].iloc[-1]
    assert last_bar.high == bars["high"].iloc[-1]
    assert last_bar.volume == pytest.approx(bars["volume"].iloc[-1])
