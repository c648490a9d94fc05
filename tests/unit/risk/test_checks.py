"""Pre-trade checks: each passes at its limit, fails just past it, and says value and limit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redfire.risk.checks import (
    CHECK_NAMES,
    CheckResult,
    OrderContext,
    buying_power_to_reserve,
    failed,
    gross_after,
    is_risk_reducing,
    net_after,
    opening_qty,
    order_notional,
    run_checks,
)
from redfire.risk.limits import Limits
from redfire.risk.markets import Market

NOW = 1_700_000_000_000


def make_ctx(**changes: Any) -> OrderContext:
    """Return a plain US buy of 100 AAPL at 100 with ample cash, changed by ``changes``."""
    base: dict[str, Any] = {
        "account": "ACC",
        "order_id": "o-1",
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 100.0,
        "price": 100.0,
        "reference_price": 100.0,
        "ts": NOW,
        "price_ts": NOW,
        "equity": 1e9,
        "cash": 1e9,
    }
    base.update(changes)
    return OrderContext(**base)


def result_of(name: str, ctx: OrderContext, limits: Limits | None = None) -> CheckResult:
    results = {result.check: result for result in run_checks(ctx, limits or Limits())}
    return results[name]


@dataclass(frozen=True)
class Case:
    check: str
    limits: dict[str, Any]
    at_limit: dict[str, Any]
    past_limit: dict[str, Any]
    shown_value: str
    shown_limit: str
    base: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.check


CASES = [
    Case("max_order_qty", {"max_order_qty": 1000}, {"qty": 1000}, {"qty": 1001}, "1,001", "1,000"),
    Case(
        "max_order_notional",
        {"max_order_notional": 1_000_000},
        {"qty": 10_000, "price": 100.0},
        {"qty": 10_000, "price": 100.01},
        "1,000,100.00",
        "1,000,000.00",
    ),
    Case(
        "price_staleness",
        {"max_price_age_ms": 60_000},
        {"price_ts": NOW - 60_000},
        {"price_ts": NOW - 60_001},
        "60,001 ms",
        "60,000 ms",
    ),
    Case(
        "price_collar",
        {"price_collar_pct": 0.05},
        {"price": 105.0},
        {"price": 105.01},
        "5.01%",
        "5.00%",
    ),
    Case(
        "price_collar",
        {"price_collar_pct": 0.05},
        {"price": 95.0},
        {"price": 94.99},
        "5.01%",
        "5.00%",
    ),
    Case(
        "daily_limit",
        {"daily_limit_pct": 0.10},
        {"price": 11.0},
        {"price": 11.01},
        "11.01",
        "11.00",
        {"symbol": "600000.SH", "previous_close": 10.0, "reference_price": 10.9},
    ),
    Case(
        "daily_limit",
        {"daily_limit_pct": 0.10},
        {"price": 9.0},
        {"price": 8.99},
        "8.99",
        "9.00",
        {"symbol": "600000.SH", "previous_close": 10.0, "reference_price": 9.1},
    ),
    Case(
        "daily_limit",
        {"growth_board_daily_limit_pct": 0.20},
        {"price": 12.0},
        {"price": 12.01},
        "12.01",
        "12.00",
        {"symbol": "300750.SZ", "previous_close": 10.0, "reference_price": 11.9},
    ),
    Case(
        "daily_limit",
        {"st_daily_limit_pct": 0.05},
        {"price": 10.5},
        {"price": 10.51},
        "10.51",
        "10.50",
        {"symbol": "600001.SH", "previous_close": 10.0, "reference_price": 10.4, "is_st": True},
    ),
    Case(
        "order_rate",
        {"max_orders_per_window": 100},
        {"recent_order_count": 99},
        {"recent_order_count": 100},
        "101",
        "100",
    ),
    Case(
        "cancel_rate",
        {"max_cancels_per_window": 100},
        {"recent_cancel_count": 100},
        {"recent_cancel_count": 101},
        "101",
        "100",
    ),
    Case(
        "max_active_orders",
        {"max_active_orders": 500},
        {"active_order_count": 499},
        {"active_order_count": 500},
        "501",
        "500",
    ),
    Case(
        "max_position_qty",
        {"max_position_qty": 1000},
        {"position_qty": 900, "qty": 100},
        {"position_qty": 901, "qty": 100},
        "1,001",
        "1,000",
    ),
    Case(
        "max_position_qty",
        {"max_position_qty": None, "max_position_qty_by_symbol": {"AAPL": 500}},
        {"position_qty": -400, "side": "SELL", "qty": 100},
        {"position_qty": -401, "side": "SELL", "qty": 100},
        "501",
        "500",
    ),
    Case(
        "max_position_notional",
        {"max_position_notional": 5_000_000},
        {"position_qty": 49_000, "qty": 1000},
        {"position_qty": 49_000, "qty": 1001},
        "5,000,100.00",
        "5,000,000.00",
    ),
    Case(
        "gross_exposure",
        {"max_gross_exposure": 20_000_000},
        {"qty": 1000},
        {"qty": 1001},
        "20,000,100.00",
        "20,000,000.00",
        {"gross_exposure": 19_900_000.0},
    ),
    Case(
        "net_exposure",
        {"max_net_exposure": 10_000_000},
        {"side": "SELL", "qty": 1000},
        {"side": "SELL", "qty": 1001},
        "10,000,100.00",
        "10,000,000.00",
        {"net_exposure": -9_900_000.0, "gross_exposure": 9_900_000.0},
    ),
    Case(
        "concentration",
        {"max_concentration": 0.5, "concentration_min_gross": 1_000_000},
        {"qty": 20_000},
        {"qty": 20_100},
        "50.12%",
        "50.00%",
        {"gross_exposure": 2_000_000.0},
    ),
    Case(
        "buying_power",
        {"max_leverage": 1.0},
        {"qty": 1000},
        {"qty": 1001},
        "100,100.00",
        "100,000.00",
        {"cash": 100_000.0},
    ),
    Case(
        "buying_power",
        {"max_leverage": 2.0},
        {"qty": 1000},
        {"qty": 1001},
        "100,100.00",
        "100,000.00",
        {"cash": 80_000.0, "reserved_buying_power": 30_000.0},
    ),
    Case(
        "daily_loss",
        {"max_daily_loss": 50_000},
        {"daily_pnl": -50_000.0},
        {"daily_pnl": -50_000.01},
        "50,000.01",
        "50,000.00",
    ),
    Case(
        "drawdown",
        {"max_drawdown": 0.2},
        {"drawdown": 0.2},
        {"drawdown": 0.2001},
        "20.01%",
        "20.00%",
    ),
    Case(
        "var_limit",
        {"max_var": 1_000_000},
        {"var_after": 1_000_000.0},
        {"var_after": 1_000_000.01},
        "1,000,000.01",
        "1,000,000.00",
        {"var_before": 900_000.0},
    ),
    Case(
        "var_pct_limit",
        {"max_var_pct": 0.05},
        {"var_after": 50_000.0},
        {"var_after": 50_100.0},
        "5.01%",
        "5.00%",
        {"var_before": 40_000.0, "equity": 1_000_000.0},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_check_passes_at_its_limit(case: Case) -> None:
    limits = replace(Limits(), **case.limits)
    result = result_of(case.check, make_ctx(**{**case.base, **case.at_limit}), limits)
    assert result.passed, result.message


@pytest.mark.parametrize("case", CASES, ids=str)
def test_check_fails_just_past_its_limit_naming_value_and_limit(case: Case) -> None:
    limits = replace(Limits(), **case.limits)
    result = result_of(case.check, make_ctx(**{**case.base, **case.past_limit}), limits)
    assert not result.passed
    assert case.shown_value in result.message
    assert case.shown_limit in result.message
    assert result.value is not None
    assert result.limit is not None


def test_order_notional_message_reads_like_a_sentence() -> None:
    limits = replace(Limits(), max_order_notional=1_000_000)
    result = result_of("max_order_notional", make_ctx(qty=12_500, price=100.0), limits)
    assert result.message == "order notional 1,250,000.00 exceeds max_order_notional 1,000,000.00"
    assert (result.value, result.limit) == (1_250_000.0, 1_000_000.0)


def test_run_checks_evaluates_every_check_in_order() -> None:
    results = run_checks(make_ctx(), Limits())
    assert [result.check for result in results] == list(CHECK_NAMES)
    assert failed(results) == []


def test_run_checks_reports_every_failure_not_just_the_first() -> None:
    ctx = make_ctx(
        trading_state="HALTED", is_duplicate=True, qty=2_000_000.0, restricted_symbols={"AAPL"}
    )
    names = {result.check for result in failed(run_checks(ctx, Limits()))}
    assert {"trading_state", "duplicate_order_id", "restricted_list", "max_order_qty"} <= names


def test_market_order_uses_the_reference_price_for_notional() -> None:
    ctx = make_ctx(price=None, reference_price=250.0, qty=5000)
    assert order_notional(ctx) == 1_250_000.0
    assert not result_of("max_order_notional", ctx).passed
    assert result_of("price_collar", ctx).passed
    assert result_of("tick_size", ctx).passed


def test_halted_account_rejects_even_a_reducing_order() -> None:
    ctx = make_ctx(trading_state="HALTED", position_qty=500, side="SELL", qty=100)
    result = result_of("trading_state", ctx)
    assert not result.passed
    assert "HALTED" in result.message


@pytest.mark.parametrize(
    ("position", "side", "qty", "passes"),
    [
        (500, "SELL", 100, True),
        (500, "SELL", 500, True),
        (500, "SELL", 600, False),  # flips to short
        (500, "BUY", 100, False),
        (-500, "BUY", 200, True),
        (-500, "SELL", 1, False),
        (0, "BUY", 100, False),
        (0, "SELL", 100, False),
    ],
)
def test_reduce_only_accepts_only_orders_that_shrink_the_position(
    position: float, side: str, qty: float, passes: bool
) -> None:
    ctx = make_ctx(trading_state="REDUCE_ONLY", position_qty=position, side=side, qty=qty)
    result = result_of("trading_state", ctx)
    assert result.passed is passes
    if not passes:
        assert "REDUCE_ONLY" in result.message


def test_duplicate_order_id_is_rejected_with_its_id() -> None:
    result = result_of("duplicate_order_id", make_ctx(is_duplicate=True, order_id="abc"))
    assert not result.passed
    assert "abc" in result.message


def test_restricted_list_comes_from_limits_or_from_the_caller() -> None:
    from_limits = replace(Limits(), restricted_symbols=frozenset({"AAPL"}))
    assert not result_of("restricted_list", make_ctx(), from_limits).passed
    assert not result_of("restricted_list", make_ctx(restricted_symbols=frozenset({"AAPL"}))).passed
    assert result_of("restricted_list", make_ctx(restricted_symbols=frozenset({"TSLA"}))).passed


def test_unknown_symbol_fails_once_and_price_checks_skip() -> None:
    results = run_checks(make_ctx(reference_price=None, price=None), Limits())
    assert [result.check for result in failed(results)] == ["known_symbol_with_price"]


def test_price_without_a_time_is_stale() -> None:
    assert not result_of("price_staleness", make_ctx(price_ts=None)).passed
    off = replace(Limits(), max_price_age_ms=None)
    assert result_of("price_staleness", make_ctx(price_ts=None), off).passed


@pytest.mark.parametrize(
    ("symbol", "side", "qty", "position", "passes"),
    [
        ("600000.SH", "BUY", 100, 0, True),
        ("600000.SH", "BUY", 150, 0, False),
        ("000001.SZ", "SELL", 50, 150, True),  # odd-lot sell up to the position
        ("000001.SZ", "SELL", 160, 150, False),
        ("000001.SZ", "SELL", 200, 150, True),  # whole lots may go short of the position
        ("0005.HK", "BUY", 400, 0, True),
        ("0005.HK", "BUY", 100, 0, False),
        ("0005.HK", "SELL", 100, 400, False),  # odd lots go to the odd-lot market
        ("AAPL", "BUY", 1, 0, True),
        ("AAPL", "BUY", 1.5, 0, False),
    ],
)
def test_lot_size_by_market(
    symbol: str, side: str, qty: float, position: float, passes: bool
) -> None:
    ctx = make_ctx(symbol=symbol, side=side, qty=qty, position_qty=position, price=None)
    result = result_of("lot_size", ctx)
    assert result.passed is passes, result.message
    if not passes:
        assert f"lot {int(result.limit or 0)}" in result.message


def test_lot_size_uses_the_context_board_lot_when_given() -> None:
    ctx = make_ctx(symbol="0388.HK", qty=100, board_lot=200, price=None)
    assert not result_of("lot_size", ctx).passed


@pytest.mark.parametrize(
    ("symbol", "price", "passes"),
    [
        ("600000.SH", 10.07, True),
        ("600000.SH", 10.075, False),
        ("510300.SH", 3.456, True),  # funds tick at 0.001
        ("0700.HK", 350.2, True),
        ("0700.HK", 350.1, False),
        ("0700.HK", 1.15, True),
        ("AAPL", 187.35, True),
        ("AAPL", 187.355, False),
        ("PENNY", 0.5123, True),
    ],
)
def test_tick_size_by_market(symbol: str, price: float, passes: bool) -> None:
    ctx = make_ctx(symbol=symbol, price=price, reference_price=price, qty=100)
    result = result_of("tick_size", ctx)
    assert result.passed is passes, result.message
    if not passes:
        assert str(price) in result.message
        assert "tick" in result.message


def test_daily_limit_rounds_the_band_half_up_to_the_tick() -> None:
    ctx = make_ctx(symbol="600000.SH", previous_close=10.05, price=11.06, reference_price=11.0)
    assert result_of("daily_limit", ctx).passed
    assert not result_of("daily_limit", replace(ctx, price=11.07)).passed


def test_daily_limit_applies_to_a_shares_only() -> None:
    ctx = make_ctx(symbol="AAPL", previous_close=10.0, price=100.0)
    assert result_of("daily_limit", ctx).passed


def test_replace_does_not_add_an_active_order() -> None:
    limits = replace(Limits(), max_active_orders=500)
    assert result_of(
        "max_active_orders", make_ctx(active_order_count=500, action="REPLACE"), limits
    ).passed


def test_position_limit_lets_an_order_reduce_a_position_already_over_the_limit() -> None:
    limits = replace(Limits(), max_position_qty=1000)
    ctx = make_ctx(position_qty=2000, side="SELL", qty=100)
    result = result_of("max_position_qty", ctx, limits)
    assert result.passed
    assert "reduces" in result.message


def test_exposure_limits_only_reject_orders_that_grow_exposure() -> None:
    limits = replace(Limits(), max_gross_exposure=1_000_000, max_net_exposure=1_000_000)
    ctx = make_ctx(
        position_qty=20_000, side="SELL", qty=1000, gross_exposure=2_000_000, net_exposure=2_000_000
    )
    assert gross_after(ctx) == 1_900_000
    assert net_after(ctx) == 1_900_000
    assert result_of("gross_exposure", ctx, limits).passed
    assert result_of("net_exposure", ctx, limits).passed


def test_concentration_is_not_checked_below_the_minimum_gross() -> None:
    limits = replace(Limits(), max_concentration=0.1, concentration_min_gross=1_000_000)
    ctx = make_ctx(qty=1000)  # 100% of 100,000 gross
    assert result_of("concentration", ctx, limits).passed


def test_buying_power_is_not_needed_to_close() -> None:
    ctx = make_ctx(cash=0.0, position_qty=500, side="SELL", qty=500)
    assert opening_qty(ctx) == 0
    assert result_of("buying_power", ctx).passed


def test_buying_power_counts_only_the_part_that_flips_the_position() -> None:
    ctx = make_ctx(cash=30_000.0, position_qty=500, side="SELL", qty=800)
    assert opening_qty(ctx) == 300
    assert result_of("buying_power", ctx).passed
    assert not result_of("buying_power", replace(ctx, qty=801)).passed
    limits = replace(Limits(), max_leverage=2.0)
    assert buying_power_to_reserve(ctx, limits) == 15_000.0


@pytest.mark.parametrize("check", ["daily_loss", "drawdown"])
def test_loss_stops_let_risk_reducing_orders_through(check: str) -> None:
    limits = replace(Limits(), max_daily_loss=1_000, max_drawdown=0.1)
    breached = {"daily_pnl": -5_000.0, "drawdown": 0.3}
    reducing = make_ctx(position_qty=500, side="SELL", qty=100, **breached)
    increasing = make_ctx(position_qty=500, side="BUY", qty=100, **breached)
    assert is_risk_reducing(reducing)
    assert result_of(check, reducing, limits).passed
    result = result_of(check, increasing, limits)
    assert not result.passed
    assert "risk-reducing" in result.message


@pytest.mark.parametrize("check", ["var_limit", "var_pct_limit"])
def test_an_order_that_lowers_var_always_passes(check: str) -> None:
    limits = replace(Limits(), max_var=1_000, max_var_pct=0.01)
    ctx = make_ctx(equity=10_000.0, var_before=9_000.0, var_after=8_000.0)
    result = result_of(check, ctx, limits)
    assert result.passed
    assert "reduces" in result.message


def test_var_checks_skip_without_an_estimate() -> None:
    limits = replace(Limits(), max_var=1.0, max_var_pct=0.01)
    ctx = make_ctx(var_after=None)
    assert result_of("var_limit", ctx, limits).passed
    assert result_of("var_pct_limit", ctx, limits).passed


def test_var_pct_fails_without_positive_equity() -> None:
    ctx = make_ctx(equity=0.0, var_before=0.0, var_after=10.0)
    assert not result_of("var_pct_limit", ctx).passed


def test_off_limits_always_pass() -> None:
    off: dict[str, Any] = {
        name: None
        for name in (
            "max_order_qty",
            "max_order_notional",
            "max_price_age_ms",
            "price_collar_pct",
            "daily_limit_pct",
            "max_orders_per_window",
            "max_cancels_per_window",
            "max_active_orders",
            "max_position_notional",
            "max_gross_exposure",
            "max_net_exposure",
            "max_concentration",
            "max_daily_loss",
            "max_drawdown",
            "max_var",
            "max_var_pct",
        )
    }
    limits = replace(Limits(), **off, check_lot_size=False, check_tick_size=False)
    ctx = make_ctx(
        symbol="600000.SH",
        qty=1e12,
        price=1e6 + 0.001,
        price_ts=0,
        previous_close=1.0,
        recent_order_count=10**9,
        recent_cancel_count=10**9,
        active_order_count=10**9,
        daily_pnl=-1e12,
        drawdown=0.99,
        var_after=1e12,
        cash=1e30,
    )
    assert failed(run_checks(ctx, limits)) == []


def test_market_comes_from_the_symbol_unless_given() -> None:
    assert make_ctx(symbol="600000.SH").market is Market.XSHG
    assert make_ctx(symbol="600000.SH", market=Market.XSHE).market is Market.XSHE


@pytest.mark.parametrize(
    "changes",
    [{"side": "HOLD"}, {"qty": 0}, {"qty": float("nan")}, {"price": -1.0}, {"trading_state": "X"}],
)
def test_order_context_rejects_impossible_orders(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid OrderContext"):
        make_ctx(**changes)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    qty=st.floats(min_value=1e-3, max_value=1e9),
    price=st.none() | st.floats(min_value=1e-4, max_value=1e6),
    reference=st.none() | st.floats(min_value=1e-4, max_value=1e6),
    position=st.floats(min_value=-1e9, max_value=1e9),
    equity=st.floats(min_value=-1e9, max_value=1e9),
    var_after=st.none() | st.floats(min_value=0, max_value=1e9),
    symbol=st.sampled_from(["AAPL", "600000.SH", "300750.SZ", "0700.HK", "510300.SH"]),
)
def test_every_check_answers_for_any_valid_order(
    side: str,
    qty: float,
    price: float | None,
    reference: float | None,
    position: float,
    equity: float,
    var_after: float | None,
    symbol: str,
) -> None:
    ctx = make_ctx(
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        reference_price=reference,
        position_qty=position,
        equity=equity,
        var_after=var_after,
        previous_close=reference,
    )
    results = run_checks(ctx, Limits())
    assert len(results) == len(CHECK_NAMES)
    for result in results:
        assert result.message
