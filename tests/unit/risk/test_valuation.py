"""Valuation: equity, exposures, ratios to equity, daily P&L and drawdown, funding."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redfire.risk.valuation import (
    DAY_MS,
    UNBOUNDED_LEVERAGE,
    EquityMarks,
    daily_pnl,
    drawdown,
    fund,
    leverage,
    mark_equity,
    ratio_to_equity,
    value_account,
)

T0 = 1_700_000_000_000 // DAY_MS * DAY_MS  # a UTC midnight


def test_value_account_sums_cash_and_market_values() -> None:
    valued = value_account(
        Decimal("1000000.00"), {"AAPL": 100, "MSFT": -50, "FLAT": 0}, {"AAPL": 190.0, "MSFT": 400.0}
    )
    assert valued.equity == pytest.approx(1_000_000 + 19_000 - 20_000)
    assert valued.gross_exposure == pytest.approx(39_000)
    assert valued.net_exposure == pytest.approx(-1_000)
    assert (valued.largest_symbol, valued.largest_exposure) == ("MSFT", 20_000)
    assert valued.open_positions == 2
    assert valued.concentration == pytest.approx(20_000 / 39_000)
    assert valued.largest_position_weight == pytest.approx(20_000 / 999_000)
    assert valued.leverage == pytest.approx(39_000 / 999_000)


def test_held_symbol_without_a_price_is_worth_nothing_and_reported() -> None:
    valued = value_account(0.0, {"AAPL": 10, "NEW": 5}, {"AAPL": 10.0})
    assert valued.unpriced == ("NEW",)
    assert valued.open_positions == 2
    assert valued.gross_exposure == 100.0


@given(
    st.lists(
        st.tuples(st.integers(-10_000, 10_000), st.floats(0.01, 10_000, allow_nan=False)),
        min_size=1,
        max_size=30,
    )
)
def test_sums_do_not_depend_on_position_order(rows: list[tuple[int, float]]) -> None:
    positions = {f"S{i}": float(qty) for i, (qty, _) in enumerate(rows)}
    prices = {f"S{i}": price for i, (_, price) in enumerate(rows)}
    forward = value_account(1e9, positions, prices)
    backward = value_account(1e9, dict(reversed(positions.items())), prices)
    assert forward.equity == backward.equity
    assert forward.gross_exposure == backward.gross_exposure


def test_leverage_without_positive_equity_is_unbounded() -> None:
    assert leverage(0.0, -5.0) == 0.0
    assert leverage(100.0, 50.0) == 2.0
    assert leverage(100.0, 0.0) == UNBOUNDED_LEVERAGE
    assert leverage(100.0, -1.0) == UNBOUNDED_LEVERAGE


@pytest.mark.parametrize(
    ("amount", "equity", "ratio"),
    [
        (0.0, -10.0, 0.0),
        (5.0, 100.0, 0.05),
        (5.0, 0.0, None),
        (5.0, -100.0, None),
        (None, 100.0, None),
        (math.nan, 100.0, None),
    ],
)
def test_ratio_to_non_positive_equity_is_no_evidence(
    amount: float | None, equity: float, ratio: float | None
) -> None:
    assert ratio_to_equity(amount, equity) == ratio


def test_drawdown_needs_a_positive_high_water_mark() -> None:
    assert drawdown(50.0, None) is None
    assert drawdown(50.0, 0.0) is None
    assert drawdown(-10.0, -5.0) is None
    assert drawdown(80.0, 100.0) == pytest.approx(0.2)
    assert drawdown(120.0, 100.0) == 0.0
    assert drawdown(-50.0, 100.0) == pytest.approx(1.5)  # lost more than the peak


def test_unfunded_account_has_no_high_water_mark_and_no_drawdown() -> None:
    """Fills before SET_CASH: equity is P&L only; a small peak must not make a 100% drawdown."""
    marks = EquityMarks()
    for equity in (0.0, 50.0, -10.0, -200.0):
        marks = mark_equity(marks, equity, T0 + 1000, may_start=False)
        assert drawdown(equity, marks.high_water) is None
    assert daily_pnl(-200.0, marks) == pytest.approx(-200.0)  # losses still count in currency


def test_account_opened_with_cash_starts_its_mark_at_once() -> None:
    marks = mark_equity(EquityMarks(), 1_000_000.0, T0, may_start=True)
    marks = mark_equity(marks, 1_100_000.0, T0 + 1, may_start=True)
    assert marks.high_water == 1_100_000.0
    assert drawdown(880_000.0, marks.high_water) == pytest.approx(0.2)


def test_day_start_is_the_first_mark_of_each_utc_day() -> None:
    marks = mark_equity(EquityMarks(), 100.0, T0 + 5, may_start=True)
    marks = mark_equity(marks, 90.0, T0 + 10, may_start=True)
    assert daily_pnl(90.0, marks) == -10.0
    marks = mark_equity(marks, 95.0, T0 + DAY_MS, may_start=True)
    assert daily_pnl(95.0, marks) == 0.0
    assert daily_pnl(1.0, EquityMarks()) is None


def test_setting_cash_funds_an_account_that_traded_first() -> None:
    marks = mark_equity(EquityMarks(), 40.0, T0, may_start=False)  # P&L before SET_CASH
    marks = fund(marks, equity_before=40.0, equity_after=1_000_040.0)
    assert marks.high_water == 1_000_040.0
    assert daily_pnl(1_000_040.0, marks) == pytest.approx(0.0)  # a deposit is not profit
    assert drawdown(1_000_040.0, marks.high_water) == 0.0


def test_withdrawal_keeps_daily_pnl_and_drawdown_percentage() -> None:
    marks = EquityMarks(high_water=1_000_000.0, day_start=950_000.0, day=T0 // DAY_MS)
    before = drawdown(900_000.0, marks.high_water)
    pnl_before = daily_pnl(900_000.0, marks)
    marks = fund(marks, equity_before=900_000.0, equity_after=450_000.0)
    assert drawdown(450_000.0, marks.high_water) == pytest.approx(before)
    assert daily_pnl(450_000.0, marks) == pytest.approx(pnl_before)


def test_funding_to_non_positive_equity_leaves_no_mark() -> None:
    marks = fund(EquityMarks(high_water=10.0), equity_before=10.0, equity_after=-5.0)
    assert marks.high_water is None
