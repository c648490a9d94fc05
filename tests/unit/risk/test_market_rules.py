"""Market-rule checks, table-driven: T+1, daily limits and lots from the master, self-trade,
FX rates and the instrument check; and agreement with the suffix rules on fallback instruments."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from redfire.config.instruments import example_instruments
from redfire.risk import markets
from redfire.risk.fx import FxRates, identity
from redfire.risk.instruments import InstrumentBook, fallback_instrument
from redfire.risk.limits import Limits
from redfire.risk.market_rules import (
    MARKET_CHECK_NAMES,
    RestingOrder,
    RuleContext,
    check_daily_limit,
    check_fx_rate,
    check_instrument,
    check_lot_size,
    check_self_trade,
    check_t_plus_one,
    check_tick_size,
    market_inputs,
    run_market_checks,
    self_trade_candidates,
)
from redfire.risk.settlement import DayPosition, apply_fill_to_day, sellable
from redfire.schemas.codec import INSTRUMENT, DecodeFailure, decode, instrument_of

NOW = 1_700_000_000_000
MASTER = example_instruments()


def book() -> InstrumentBook:
    return InstrumentBook(MASTER.values())


def make_ctx(symbol: str = "600519.SH", **changes: Any) -> RuleContext:
    """Return a BUY of 100 ``symbol`` at 1700 by ACC, resolved against the example master."""
    resolved = book().resolve(symbol)
    base: dict[str, Any] = {
        "account": "ACC",
        "order_id": "o-1",
        "symbol": symbol,
        "side": "BUY",
        "qty": 100.0,
        "price": 1_700.0,
        "ts": NOW,
        "instrument": resolved.instrument,
        "instrument_known": resolved.known,
        "fx": identity(resolved.instrument.currency),
    }
    base.update(changes)
    return RuleContext(**base)


# --- T+1 ----------------------------------------------------------------------------------

MON, TUE = 20_000, 20_001


@dataclass(frozen=True)
class Day:
    """Fills (day, side, qty) from a flat start, then a SELL of ``qty`` on ``day``."""

    fills: tuple[tuple[int, str, float], ...]
    day: int
    qty: float
    open_sells: float = 0.0


def replay_t1(case: Day) -> tuple[float, Any]:
    """Replay the fills through the T+1 state; return (position, sellable) on the order's day."""
    state: DayPosition | None = DayPosition(MON, 0.0)
    position = 0.0
    for day, side, qty in case.fills:
        state = apply_fill_to_day(state, day, side, qty, position)
        position += qty if side == "BUY" else -qty
    return position, sellable(state, case.day, position, case.open_sells)


@pytest.mark.parametrize(
    ("symbol", "case", "ok", "available"),
    [
        # bought today, sold today: nothing is sellable yet
        ("600519.SH", Day(((MON, "BUY", 1_000),), MON, 1_000), False, 0.0),
        # ... the next trading day all of it is
        ("600519.SH", Day(((MON, "BUY", 1_000),), TUE, 1_000), True, 1_000.0),
        # held overnight, bought more today: only the overnight shares
        ("000001.SZ", Day(((MON, "BUY", 1_000), (TUE, "BUY", 500)), TUE, 1_200), False, 1_000.0),
        ("000001.SZ", Day(((MON, "BUY", 1_000), (TUE, "BUY", 500)), TUE, 1_000), True, 1_000.0),
        # partial: 400 already sold today, 600 left
        ("600519.SH", Day(((MON, "BUY", 1_000), (TUE, "SELL", 400)), TUE, 700), False, 600.0),
        ("600519.SH", Day(((MON, "BUY", 1_000), (TUE, "SELL", 400)), TUE, 600), True, 600.0),
        # a live SELL order already counts on 500 of the 1,000
        ("600519.SH", Day(((MON, "BUY", 1_000),), TUE, 600, open_sells=500), False, 500.0),
        # STAR and ChiNext are T+1 too
        ("688981.SH", Day(((MON, "BUY", 300),), MON, 300), False, 0.0),
        ("300750.SZ", Day(((MON, "BUY", 300),), TUE, 300), True, 300.0),
        # not T+1: Hong Kong, US, and a cross-border ETF the master marks T+0
        ("0700.HK", Day(((MON, "BUY", 1_000),), MON, 1_000), True, None),
        ("MSFT", Day(((MON, "BUY", 10),), MON, 10), True, None),
        ("513100.SH", Day(((MON, "BUY", 1_000),), MON, 1_000), True, None),
        # an unknown A-share falls back to the suffix rules, which are T+1
        ("601318.SH", Day(((MON, "BUY", 1_000),), MON, 1_000), False, 0.0),
    ],
)
def test_t_plus_one(symbol: str, case: Day, ok: bool, available: float | None) -> None:
    position, state = replay_t1(case)
    ctx = make_ctx(symbol, side="SELL", qty=float(case.qty), position_qty=position, sellable=state)

    result = check_t_plus_one(ctx, Limits())

    assert result.passed is ok, result.message
    if not ok:
        assert result.value == case.qty and result.limit == available
        assert f"exceeds the T+1 sellable {available:,.0f}" in result.message


def test_t_plus_one_spares_buys_and_can_be_switched_off() -> None:
    _, state = replay_t1(Day(((MON, "BUY", 1_000),), MON, 1_000))
    sell = make_ctx(side="SELL", qty=1_000.0, position_qty=1_000.0, sellable=state)

    assert check_t_plus_one(replace(sell, side="BUY"), Limits()).passed
    assert check_t_plus_one(sell, Limits(check_t_plus_one=False)).passed
    assert not check_t_plus_one(sell, Limits()).passed


def test_a_t_plus_one_sell_without_a_start_of_day_position_is_refused() -> None:
    result = check_t_plus_one(make_ctx(side="SELL", position_qty=100.0), Limits())

    assert not result.passed
    assert "start-of-day position of 600519.SH unknown" in result.message


# --- daily limits from the master ---------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "master", "close", "price", "ok", "bound"),
    [
        ("600519.SH", {}, 1_700.0, 1_870.0, True, None),  # main board ±10%
        ("600519.SH", {}, 1_700.0, 1_870.01, False, 1_870.0),
        ("600519.SH", {}, 1_700.0, 1_529.99, False, 1_530.0),
        ("600001.SH", {}, None, 4.20, True, None),  # ST from the master, close 4.00: ±5%
        ("600001.SH", {}, None, 4.21, False, 4.2),
        ("600001.SH", {}, None, 3.79, False, 3.8),
        ("600001.SH", {"previous_close": 3.33}, None, 3.50, True, None),  # 3.4965 → 3.50
        ("600001.SH", {"previous_close": 3.33}, None, 3.51, False, 3.5),
        ("600001.SH", {"previous_close": 3.33}, None, 3.15, False, 3.16),  # 3.1635 → 3.16
        ("688981.SH", {}, 50.0, 60.0, True, None),  # STAR ±20%
        ("688981.SH", {}, 50.0, 60.01, False, 60.0),
        ("300750.SZ", {}, 200.0, 239.99, True, None),  # ChiNext ±20%
        ("300750.SZ", {"is_st": True}, 200.0, 160.0, True, None),  # ST on ChiNext: still 20%
        ("000001.SZ", {}, 10.05, 11.06, True, None),  # 11.055 rounds half-up to 11.06
        ("000001.SZ", {}, 10.05, 11.07, False, 11.06),
        ("000001.SZ", {}, 10.05, 9.04, False, 9.05),  # 9.045 rounds half-up to 9.05
        ("000001.SZ", {"daily_limit_pct": 0.3}, 10.0, 12.99, True, None),  # master's own pct
        ("000001.SZ", {"no_daily_limit": True}, 10.0, 30.0, True, None),  # e.g. listing week
        ("510300.SH", {}, 4.0, 4.401, False, 4.4),  # fund tick 0.001
        ("0700.HK", {}, 300.0, 500.0, True, None),  # no daily limit in Hong Kong
        ("MSFT", {}, 400.0, 900.0, True, None),
    ],
)
def test_daily_limits_from_the_master(
    symbol: str,
    master: dict[str, Any],
    close: float | None,
    price: float,
    ok: bool,
    bound: float | None,
) -> None:
    instrument = replace(MASTER[symbol], **master) if symbol in MASTER else None
    entries = {**MASTER, symbol: instrument} if instrument else MASTER
    inputs = market_inputs(symbol, InstrumentBook(entries.values()), FxRates(), "CNY", close)
    ctx = make_ctx(
        symbol,
        price=price,
        instrument=inputs.instrument,
        previous_close=inputs.previous_close,
    )

    result = check_daily_limit(ctx, Limits())

    assert result.passed is ok, result.message
    assert result.limit == bound
    if not ok:
        assert "daily" in result.message and "previous close" in result.message


def test_the_masters_previous_close_wins_over_the_bars() -> None:
    inputs = market_inputs("600001.SH", book(), FxRates(), "CNY", bars_close=5.0)
    ctx = make_ctx("600001.SH", price=4.9, instrument=inputs.instrument, previous_close=5.0)

    assert inputs.previous_close == 4.0
    from_master = replace(ctx, previous_close=inputs.previous_close)
    assert not check_daily_limit(from_master, Limits()).passed
    assert check_daily_limit(ctx, Limits()).passed  # measured from the bars it would pass


def test_daily_limit_off_and_without_a_close() -> None:
    ctx = make_ctx(price=9_999.0, previous_close=1_700.0)

    assert check_daily_limit(ctx, Limits(daily_limit_pct=None)).passed
    assert check_daily_limit(replace(ctx, previous_close=None), Limits()).passed
    assert check_daily_limit(replace(ctx, price=None), Limits()).passed  # market order
    assert not check_daily_limit(ctx, Limits()).passed


# --- board lots, from the topic -----------------------------------------------------------


def from_topic(raw: bytes) -> InstrumentBook:
    """Return the example master updated with one record as the instruments topic carries it."""
    record = decode(raw, INSTRUMENT)
    assert not isinstance(record, DecodeFailure), record
    master = book()
    master.put(instrument_of(record))
    return master


HSBC_400 = b'{"symbol": "0005.HK", "market": "XHKG", "currency": "HKD", "lot_size": 400}'
TENCENT_200 = b'{"symbol": "0700.HK", "market": "XHKG", "currency": "HKD", "lot_size": 200}'


@pytest.mark.parametrize(
    ("raw", "symbol", "side", "qty", "position", "ok"),
    [
        (HSBC_400, "0005.HK", "BUY", 400, 0, True),
        (HSBC_400, "0005.HK", "BUY", 1_200, 0, True),
        (HSBC_400, "0005.HK", "BUY", 100, 0, False),
        (HSBC_400, "0005.HK", "SELL", 200, 1_000, False),  # odd lots do not go through this route
        (TENCENT_200, "0700.HK", "BUY", 100, 0, False),  # the topic's lot replaces the file's
        (TENCENT_200, "0700.HK", "BUY", 400, 0, True),
        (HSBC_400, "0388.HK", "BUY", 100, 0, True),  # not in the master: suffix rules (100)
        (HSBC_400, "0941.HK", "BUY", 250, 0, False),  # 500 in the master
        (HSBC_400, "600519.SH", "BUY", 150, 0, False),  # A-share buys in 100s
        (HSBC_400, "600519.SH", "SELL", 37, 137, True),  # the odd remainder may be sold
        (HSBC_400, "600519.SH", "SELL", 138, 137, False),
        (HSBC_400, "688981.SH", "BUY", 201, 0, True),  # STAR: 200 or more, in steps of 1
        (HSBC_400, "688981.SH", "BUY", 150, 0, False),
        (HSBC_400, "688981.SH", "SELL", 150, 150, True),  # the remainder under 200 sells whole
        (HSBC_400, "MSFT", "BUY", 7, 0, True),
        (HSBC_400, "MSFT", "BUY", 0.5, 0, False),
    ],
)
def test_board_lots_from_the_topic(
    raw: bytes, symbol: str, side: str, qty: float, position: float, ok: bool
) -> None:
    resolved = from_topic(raw).resolve(symbol)
    ctx = make_ctx(
        symbol,
        side=side,
        qty=float(qty),
        position_qty=float(position),
        instrument=resolved.instrument,
        instrument_known=resolved.known,
    )

    result = check_lot_size(ctx, Limits())

    assert result.passed is ok, result.message
    if not ok:
        assert result.limit == resolved.instrument.lot_size
        assert f"lot {resolved.instrument.lot_size}" in result.message


def test_tick_sizes_follow_the_instrument() -> None:
    usdcny = make_ctx("USDCNY", price=7.12345)  # the master gives USDCNY a 0.0001 tick
    hk = make_ctx("0700.HK", price=300.1)  # HKEX: 0.2 between 200 and 500

    assert not check_tick_size(usdcny, Limits()).passed
    assert check_tick_size(replace(usdcny, price=7.1234), Limits()).passed
    assert not check_tick_size(hk, Limits()).passed
    assert check_tick_size(replace(hk, price=300.2), Limits()).passed
    assert check_tick_size(hk, Limits(check_tick_size=False)).passed


# --- self-trade prevention ----------------------------------------------------------------


def resting(side: str, price: float | None, account: str = "ACC", order_id: str = "r-1") -> Any:
    return RestingOrder(order_id, account, side, price, 100.0)


@pytest.mark.parametrize(
    ("side", "price", "orders", "crossing"),
    [
        ("BUY", 10.00, [resting("SELL", 10.00)], True),
        ("BUY", 10.00, [resting("SELL", 9.99)], True),
        ("BUY", 10.00, [resting("SELL", 10.01)], False),
        ("SELL", 10.00, [resting("BUY", 10.00)], True),
        ("SELL", 10.00, [resting("BUY", 10.01)], True),
        ("SELL", 10.00, [resting("BUY", 9.99)], False),
        ("BUY", None, [resting("SELL", 1_000.0)], True),  # a market order crosses anything
        ("SELL", None, [resting("BUY", 0.01)], True),
        ("BUY", 10.00, [resting("SELL", None)], True),  # so does a resting market order
        ("BUY", 10.00, [resting("BUY", 9.00), resting("BUY", 11.00)], False),  # same side
        ("BUY", 10.00, [resting("SELL", 10.5), resting("SELL", 9.5, order_id="r-2")], True),
        ("BUY", 10.00, [], False),
        ("BUY", 10.00, [resting("SELL", 9.00, order_id="o-1")], False),  # the order replaced
        ("SELL", 10.00, [resting("BUY", 10.00, account="ACC-2")], True),  # same group
    ],
)
def test_self_trade_crossing_and_not(
    side: str, price: float | None, orders: list[RestingOrder], crossing: bool
) -> None:
    ctx = make_ctx("000001.SZ", side=side, price=price, resting_orders=tuple(orders))

    result = check_self_trade(ctx, Limits(self_trade_group="DESK-A"))

    assert result.passed is not crossing, result.message
    if crossing:
        assert "would cross" in result.message


def test_self_trade_message_names_the_other_order_and_group() -> None:
    ctx = make_ctx(
        "000001.SZ", side="SELL", price=10.0, resting_orders=(resting("BUY", 10.02, "ACC-2"),)
    )

    result = check_self_trade(ctx, Limits(self_trade_group="DESK-A"))

    assert result.message == (
        "SELL 100 000001.SZ at 10 would cross BUY r-1 of account ACC-2 "
        "(self-trade group DESK-A) at 10.02"
    )
    assert check_self_trade(ctx, Limits(check_self_trade=False)).passed


def test_self_trade_candidates_are_the_other_side_without_the_replaced_order() -> None:
    orders = [
        resting("SELL", 10.0),
        resting("BUY", 9.0, order_id="b"),
        resting("SELL", 11.0, order_id="x"),
    ]

    assert self_trade_candidates(orders, "BUY", replaced_order_id="x") == [orders[0]]


# --- FX rate and instrument ---------------------------------------------------------------


def test_fx_rate_missing_is_a_rejection_reason() -> None:
    fx = FxRates()
    inputs = market_inputs("MSFT", book(), fx, "CNY", None)
    ctx = make_ctx("MSFT", price=400.0, fx=inputs.fx)

    result = check_fx_rate(ctx, Limits())

    assert not result.passed
    assert result.message == (
        "MSFT is priced in USD: no USD→CNY FX rate: no tick or master rate for USDCNY, CNYUSD"
    )
    assert check_fx_rate(ctx, Limits(check_fx_rate=False)).passed


@pytest.mark.parametrize(
    ("tick_age_ms", "max_age", "reference", "ok"),
    [
        (500, None, False, True),
        (500, 1_000, False, True),
        (1_000, 1_000, False, True),
        (1_001, 1_000, False, False),
        (None, None, True, True),  # the master's rate serves until the first tick
        (None, 1_000, True, False),  # ... but has no age to satisfy a max age
    ],
)
def test_fx_rate_age(
    tick_age_ms: int | None, max_age: int | None, reference: bool, ok: bool
) -> None:
    fx = FxRates()
    if reference:
        fx.set_reference("USDCNY", "USD", "CNY", 7.1)
    else:
        assert tick_age_ms is not None
        fx.on_tick("USDCNY", "USD", "CNY", 7.1, NOW - tick_age_ms)
    ctx = make_ctx("MSFT", price=400.0, fx=fx.convert("USD", "CNY"))

    result = check_fx_rate(ctx, Limits(max_fx_rate_age_ms=max_age))

    assert result.passed is ok, result.message


def test_instrument_check() -> None:
    untradable = make_ctx("USDCNY", price=7.1)
    unknown = make_ctx("601318.SH")

    assert not check_instrument(untradable, Limits()).passed
    assert "not tradable" in check_instrument(untradable, Limits()).message
    assert check_instrument(untradable, Limits(reject_untradable=False)).passed
    fallback = check_instrument(unknown, Limits())
    assert fallback.passed
    assert fallback.message == (
        "601318.SH is not in the instrument master: suffix rules used (XSHG, CNY, lot 100)"
    )
    refused = check_instrument(unknown, Limits(reject_unknown_instruments=True))
    assert not refused.passed and "reject_unknown_instruments is on" in refused.message


def test_every_check_runs_and_passing_builds_no_message() -> None:
    ctx = make_ctx(previous_close=1_700.0)

    first, second = run_market_checks(ctx, Limits()), run_market_checks(ctx, Limits())

    assert [r.check for r in first] == list(MARKET_CHECK_NAMES)
    assert all(r.passed for r in first)
    assert all(a is b for a, b in zip(first, second, strict=True))  # shared results


# --- agreement with the suffix rules the older checks applied ------------------------------
#
# ``checks`` had its own lot, tick and daily-limit checks from the suffix rules of ``markets``;
# the market-rule checks replaced them. On a fallback instrument they must decide as those did:
# ``suffix_rules`` below is what the older checks computed, from the same ``markets`` helpers.

GRID_SYMBOLS = ("600519.SH", "000001.SZ", "300750.SZ", "510300.SH", "0700.HK", "0005.HK", "AAPL")


def suffix_rules(
    symbol: str, side: str, qty: float, position: float, price: float, is_st: bool
) -> dict[str, bool]:
    """Return pass/fail of lot, tick and daily limit as the older suffix-rule checks decided."""
    limits = Limits()
    venue = markets.market_of(symbol)
    lot = markets.board_lot(symbol, venue)
    tick = markets.tick_size(venue, price, symbol)
    daily = True
    if venue in markets.A_SHARE_MARKETS and limits.daily_limit_pct is not None:
        pct = markets.daily_limit_pct(
            symbol,
            is_st,
            limits.daily_limit_pct,
            limits.growth_board_daily_limit_pct,
            limits.st_daily_limit_pct,
        )
        lower, upper = markets.daily_limit_band(10.05, pct, tick)
        daily = lower <= Decimal(repr(price)) <= upper
    return {
        "lot_size": markets.lot_ok(venue, side, qty, position, lot),
        "tick_size": markets.on_tick(price, tick),
        "daily_limit": daily,
    }


@pytest.mark.parametrize("symbol", GRID_SYMBOLS)
def test_lot_tick_and_daily_limit_agree_with_the_suffix_rules(symbol: str) -> None:
    instrument = fallback_instrument(symbol)
    grid = itertools.product(
        ("BUY", "SELL"),
        (1.0, 37.0, 100.0, 150.0, 400.0, 0.5),
        (0.0, 137.0),
        (9.04, 9.05, 10.0, 11.06, 11.07, 0.255, 300.2, 4.401),
        (False, True),
    )
    for side, qty, position, price, is_st in grid:
        new = make_ctx(
            symbol,
            side=side,
            qty=qty,
            price=price,
            position_qty=position,
            previous_close=10.05,
            instrument=replace(instrument, is_st=is_st) if instrument.board else instrument,
            instrument_known=False,
        )
        expected = suffix_rules(
            symbol, side, qty, position, price, is_st and instrument.board is not None
        )
        limits = Limits()
        for check in (check_lot_size, check_tick_size, check_daily_limit):
            name = check.__name__.removeprefix("check_")
            assert check(new, limits).passed == expected[name], (
                name,
                side,
                qty,
                position,
                price,
                is_st,
            )
