"""Pre-trade checks from reference data and market rules, in the ``CheckResult`` shape.

* ``instrument`` — the master marks the symbol not tradable (``reject_untradable``); or it is
  not in the master and the account refuses fallbacks (``reject_unknown_instruments``). A
  fallback that passes says so in its message.
* ``lot_size`` — qty off the instrument's lot or under its minimum (STAR: 200 in steps of 1);
  an A-share SELL of any quantity up to the position passes, as today (``check_lot_size``).
* ``tick_size`` — limit price off the instrument's tick table (``check_tick_size``).
* ``daily_limit`` — an A-share limit price outside previous close × (1 ± pct), rounded half-up
  to the tick; pct from the master entry, else its board: ST 5%, STAR and ChiNext 20%, main
  10% (``daily_limit_pct`` (null = off), ``growth_board_daily_limit_pct``,
  ``st_daily_limit_pct``).
* ``fx_rate`` — no rate from the instrument's currency to the account's base currency, or one
  older than ``max_fx_rate_age_ms`` (``check_fx_rate``).
* ``t_plus_one`` — a SELL of a T+1 instrument above start-of-day position − sold today − open
  sells (``check_t_plus_one``).
* ``self_trade`` — the order would cross a live opposite order of the same account or of its
  self-trade group: BUY at p against SELL at q ≤ p, SELL at p against BUY at q ≥ p; a market
  order, incoming or resting, crosses anything (``check_self_trade``, ``self_trade_group``).

``lot_size``, ``tick_size`` and ``daily_limit`` replaced older checks of the same names in
``checks`` that knew only the suffix rules: with a fallback instrument
(``instruments.fallback_instrument``) they decide as those did, except on STAR (688/689), where
the exchange's 200-share minimum in steps of 1 replaces the 100-share lot.

Each check takes anything with the fields of ``MarketOrder`` (``RuleContext`` here, the
engine's ``checks.OrderContext`` in the worker) and the account's ``Limits``. A passing check
returns a shared result without building a message; messages are built only on failure (and for
the fallback note of ``instrument``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from redfire.risk.check_result import CheckResult
from redfire.risk.fx import Conversion, FxRates, MissingRate
from redfire.risk.instruments import Instrument, InstrumentBook, Resolution, previous_close
from redfire.risk.limits import Limits
from redfire.risk.markets import A_SHARE_MARKETS, board_daily_limit_pct, daily_limit_band, on_tick
from redfire.risk.settlement import Sellable

RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """A live order that an incoming order could trade against: remaining qty, price (None =
    market)."""

    order_id: str
    account: str
    side: str
    price: float | None
    qty: float


class MarketOrder(Protocol):
    """The fields the market-rule checks read; ``checks.OrderContext`` has them."""

    @property
    def account(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def qty(self) -> float: ...
    @property
    def price(self) -> float | None: ...
    @property
    def ts(self) -> int: ...
    @property
    def position_qty(self) -> float: ...
    @property
    def instrument(self) -> Instrument: ...
    @property
    def instrument_known(self) -> bool: ...
    @property
    def previous_close(self) -> float | None: ...
    @property
    def fx(self) -> Conversion | MissingRate: ...
    @property
    def sellable(self) -> Sellable | None: ...
    @property
    def resting_orders(self) -> Sequence[RestingOrder]: ...


@dataclass(frozen=True, slots=True)
class RuleContext:
    """One order with what the market rules need about it (a ``MarketOrder``).

    ``instrument``/``instrument_known``: the resolution (``InstrumentBook.resolve``).
    ``previous_close``: the master's, else the bars' (``instruments.previous_close``).
    ``fx``: the conversion of the instrument's currency into the account's base currency
    (identity when they agree). ``sellable``: the T+1 state (``settlement.sellable``); None
    means unknown, which fails a T+1 sell. ``resting_orders``: the live orders of the account
    (and of its self-trade group) in the symbol, without the order a REPLACE replaces.
    """

    account: str
    order_id: str
    symbol: str
    side: str
    qty: float
    price: float | None
    ts: int
    instrument: Instrument
    instrument_known: bool
    fx: Conversion | MissingRate
    position_qty: float = 0.0
    previous_close: float | None = None
    sellable: Sellable | None = None
    resting_orders: tuple[RestingOrder, ...] = ()


def as_market_order(ctx: RuleContext) -> MarketOrder:
    """Return ``ctx`` typed as a ``MarketOrder`` (mypy proves the two agree)."""
    return ctx


@dataclass(frozen=True, slots=True)
class MarketInputs:
    """The per-symbol inputs of a ``MarketOrder``, resolved in one call (``market_inputs``)."""

    instrument: Instrument
    instrument_known: bool
    previous_close: float | None
    fx: Conversion | MissingRate
    note: str | None


def market_inputs(
    symbol: str,
    book: InstrumentBook,
    rates: FxRates,
    base_currency: str,
    bars_close: float | None,
) -> MarketInputs:
    """Resolve a symbol: its instrument (or fallback), previous close and conversion to base."""
    resolution: Resolution = book.resolve(symbol)
    instrument = resolution.instrument
    return MarketInputs(
        instrument=instrument,
        instrument_known=resolution.known,
        previous_close=previous_close(instrument, bars_close),
        fx=rates.convert(instrument.currency, base_currency),
        note=resolution.note(),
    )


MarketCheck = Callable[[MarketOrder, Limits], CheckResult]


def _pass(name: str) -> CheckResult:
    return CheckResult(name, True, None, None, "ok")


_PASSED = {
    name: _pass(name)
    for name in (
        "instrument",
        "lot_size",
        "tick_size",
        "daily_limit",
        "fx_rate",
        "t_plus_one",
        "self_trade",
    )
}


def _failed(name: str, value: float | None, limit: float | None, message: str) -> CheckResult:
    return CheckResult(name, False, value, limit, message)


def _qty(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return f"{int(value):,}"
    return f"{value:,.8f}".rstrip("0").rstrip(".")


def _price(value: float | None) -> str:
    return "market" if value is None else f"{value:g}"


# --- the checks ---------------------------------------------------------------------------


def check_instrument(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject untradable instruments, and unknown ones when the account refuses fallbacks."""
    name = "instrument"
    instrument = ctx.instrument
    if ctx.instrument_known:
        if instrument.tradable or not limits.reject_untradable:
            return _PASSED[name]
        return _failed(
            name, None, None, f"{ctx.symbol} is marked not tradable in the instrument master"
        )
    if limits.reject_unknown_instruments:
        note = _fallback_note(
            ctx.symbol, instrument.market, instrument.currency, instrument.lot_size
        )
        return _failed(name, None, None, f"{note}; reject_unknown_instruments is on")
    return _fallback_pass(ctx.symbol, instrument.market, instrument.currency, instrument.lot_size)


def _fallback_note(symbol: str, market: str, currency: str, lot: int) -> str:
    return (
        f"{symbol} is not in the instrument master: suffix rules used "
        f"({market}, {currency}, lot {lot})"
    )


@lru_cache(maxsize=8192)
def _fallback_pass(symbol: str, market: str, currency: str, lot: int) -> CheckResult:
    """Return the passing result that notes a fallback (built once per symbol and rules)."""
    return CheckResult(
        "instrument", True, None, None, _fallback_note(symbol, market, currency, lot)
    )


def check_lot_size(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject quantities off the instrument's lot or under its minimum; A-share odd-lot
    sells up to the position pass (as ``markets.lot_ok``)."""
    name = "lot_size"
    if not limits.check_lot_size:
        return _PASSED[name]
    instrument = ctx.instrument
    lot, minimum, qty = instrument.lot_size, instrument.min_order_qty, ctx.qty
    # Whole-number floats divide exactly, so a float modulo is exact here.
    if qty % lot == 0 and (minimum is None or qty >= minimum):
        return _PASSED[name]
    if instrument.market in A_SHARE_MARKETS and ctx.side == "SELL" and 0 < qty <= ctx.position_qty:
        return _PASSED[name]
    rule = f"lot {lot}" + ("" if minimum is None else f", minimum {_qty(minimum)}")
    message = f"qty {_qty(qty)} does not fit the {instrument.market} {rule} of {ctx.symbol}"
    if instrument.market in A_SHARE_MARKETS and ctx.side == "SELL":
        message += f" and exceeds the position {_qty(ctx.position_qty)} (odd-lot sells close)"
    return _failed(name, qty, float(lot), message)


def check_tick_size(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject limit prices off the instrument's tick table."""
    name = "tick_size"
    if not limits.check_tick_size or ctx.price is None:
        return _PASSED[name]
    tick = ctx.instrument.tick_for(ctx.price)
    if on_tick(ctx.price, tick):
        return _PASSED[name]
    return _failed(
        name,
        ctx.price,
        float(tick),
        f"price {ctx.price:g} is not a multiple of the tick {tick} of {ctx.symbol}",
    )


def daily_limit_fraction(instrument: Instrument, limits: Limits) -> float | None:
    """Return the instrument's daily limit fraction, or None when it has no daily limit."""
    if instrument.market not in A_SHARE_MARKETS or instrument.no_daily_limit:
        return None
    if instrument.daily_limit_pct is not None:
        return instrument.daily_limit_pct
    if limits.daily_limit_pct is None or instrument.board is None:
        return None
    return board_daily_limit_pct(
        instrument.board,
        instrument.is_st,
        limits.daily_limit_pct,
        limits.growth_board_daily_limit_pct,
        limits.st_daily_limit_pct,
    )


@lru_cache(maxsize=8192)
def _limit_band(previous_close: float, pct: float, tick: Decimal) -> tuple[Decimal, Decimal]:
    """Return the daily band; it changes once a day per symbol, so it is computed once."""
    return daily_limit_band(previous_close, pct, tick)


def check_daily_limit(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject A-share limit prices outside the band around the previous close.

    The previous close is the master's, else the bars' (``ctx.previous_close``); without one
    the check passes (the band cannot be drawn).
    """
    name = "daily_limit"
    if limits.daily_limit_pct is None or ctx.price is None or ctx.previous_close is None:
        return _PASSED[name]
    pct = daily_limit_fraction(ctx.instrument, limits)
    if pct is None:
        return _PASSED[name]
    lower, upper = _limit_band(ctx.previous_close, pct, ctx.instrument.tick_for(ctx.price))
    price = float(ctx.price)
    if float(lower) <= price <= float(upper):
        return _PASSED[name]
    st = " ST" if ctx.instrument.is_st else ""
    board = ctx.instrument.board or "A-share"
    band = f"(previous close {ctx.previous_close:g} ±{pct:.0%}, {board}{st})"
    if price > float(upper):
        message = f"price {ctx.price:g} above the daily upper limit {upper} {band}"
        return _failed(name, ctx.price, float(upper), message)
    message = f"price {ctx.price:g} below the daily lower limit {lower} {band}"
    return _failed(name, ctx.price, float(lower), message)


def check_fx_rate(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject an order whose currency has no rate to the base currency, or a stale one."""
    name = "fx_rate"
    if not limits.check_fx_rate:
        return _PASSED[name]
    fx = ctx.fx
    if isinstance(fx, MissingRate):
        return _failed(name, None, None, f"{ctx.symbol} is priced in {fx.source}: {fx.message()}")
    max_age = limits.max_fx_rate_age_ms
    if max_age is None or fx.is_identity:
        return _PASSED[name]
    if fx.has_reference_leg:
        return _failed(
            name,
            None,
            float(max_age),
            f"{fx.source}→{fx.target} rate {fx.describe()} is the instrument master's reference "
            f"rate, with no time; max_fx_rate_age_ms needs a ticked rate",
        )
    age = ctx.ts - (fx.ts or 0)
    if age - max_age <= RELATIVE_TOLERANCE * max_age:
        return _PASSED[name]
    return _failed(
        name,
        float(age),
        float(max_age),
        f"{fx.source}→{fx.target} rate ({fx.describe()}) is {age:,} ms old, "
        f"past max_fx_rate_age_ms {max_age:,}",
    )


def check_t_plus_one(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject a T+1 SELL above what was held at the start of the day and not sold since."""
    name = "t_plus_one"
    if not limits.check_t_plus_one or ctx.side != "SELL" or not ctx.instrument.t_plus_one:
        return _PASSED[name]
    state = ctx.sellable
    if state is None:
        return _failed(
            name,
            ctx.qty,
            None,
            f"start-of-day position of {ctx.symbol} unknown: a T+1 sell cannot be checked",
        )
    available = state.available
    if ctx.qty - available <= RELATIVE_TOLERANCE * max(1.0, available):
        return _PASSED[name]
    return _failed(
        name,
        ctx.qty,
        available,
        f"SELL {_qty(ctx.qty)} {ctx.symbol} exceeds the T+1 sellable {_qty(available)} "
        f"({state.describe()}); shares bought today sell from the next trading day",
    )


def crosses(side: str, price: float | None, resting: RestingOrder) -> bool:
    """Tell whether an order on ``side`` at ``price`` (None = market) would trade with
    ``resting`` (an order on the other side)."""
    if price is None or resting.price is None:
        return True
    return price >= resting.price if side == "BUY" else price <= resting.price


def check_self_trade(ctx: MarketOrder, limits: Limits) -> CheckResult:
    """Reject an order that would cross a live opposite order of the account or its group."""
    name = "self_trade"
    if not limits.check_self_trade:
        return _PASSED[name]
    for resting in ctx.resting_orders:
        if resting.side == ctx.side or resting.order_id == ctx.order_id:
            continue
        if crosses(ctx.side, ctx.price, resting):
            message = _self_trade_message(ctx, resting, limits)
            return _failed(name, ctx.price, resting.price, message)
    return _PASSED[name]


def _self_trade_message(ctx: MarketOrder, resting: RestingOrder, limits: Limits) -> str:
    owner = "the same account" if resting.account == ctx.account else f"account {resting.account}"
    group = limits.self_trade_group
    group = "" if group is None else f" (self-trade group {group})"
    return (
        f"{ctx.side} {_qty(ctx.qty)} {ctx.symbol} at {_price(ctx.price)} would cross "
        f"{resting.side} {resting.order_id} of {owner}{group} at {_price(resting.price)}"
    )


MARKET_CHECKS: tuple[MarketCheck, ...] = (
    check_instrument,
    check_lot_size,
    check_tick_size,
    check_daily_limit,
    check_fx_rate,
    check_t_plus_one,
    check_self_trade,
)
MARKET_CHECK_NAMES: tuple[str, ...] = tuple(
    check.__name__.removeprefix("check_") for check in MARKET_CHECKS
)
# The older checks of the same names these replaced in ``checks.CHECKS``.
REPLACES: frozenset[str] = frozenset({"lot_size", "tick_size", "daily_limit"})


def run_market_checks(ctx: MarketOrder, limits: Limits) -> list[CheckResult]:
    """Evaluate every market-rule check, in ``MARKET_CHECKS`` order, without stopping."""
    return [check(ctx, limits) for check in MARKET_CHECKS]


def self_trade_candidates(
    orders: Sequence[RestingOrder], side: str, replaced_order_id: str | None = None
) -> list[RestingOrder]:
    """Return the live orders an order on ``side`` could cross: the other side's, without the
    order being replaced."""
    return [o for o in orders if o.side != side and o.order_id != replaced_order_id]
