"""Pre-trade checks (DESIGN §7): one small function per check, each returning a ``CheckResult``.

The caller (the order agent or the what-if view) gathers everything into a frozen
``OrderContext`` and calls ``run_checks(ctx, limits)``, which evaluates **every** check, never
stopping at the first failure, so that a decision lists all reasons. ``failed(results)`` keeps
the failures. Cancels are never checked: only NEW and REPLACE requests come here.

Prices
  * ``order_price``: the limit price, or the reference (last) price for a market order. Order
    notional and buying power use it.
  * ``mark_price``: the reference price (the limit price when there is none). Exposure, position
    value and concentration are marked with it, as the snapshots are.
  A check that needs a price when there is none passes with a "skipped" message; the failure is
  reported once, by ``known_symbol_with_price``.

Post-trade limits (position, gross, net, concentration, VaR) fail only when the value after the
order is past the limit **and** the order makes it worse: an order that brings an account back
towards its limits is always allowed, so lowering a limit never traps a position. In the same
way the daily-loss and drawdown stops only block orders that are not risk-reducing.

A *risk-reducing* order shrinks |position| without flipping its sign; REDUCE_ONLY accepts only
those, HALTED accepts none.

Comparisons allow a relative tolerance of 1e-9 so that a value equal to its limit up to float
rounding passes ("at the limit passes, just past it fails").

Currencies and reference data
  Money limits, cash, equity and exposures are in the account's **base currency**. The order's
  own amounts (notional, the value it adds, the buying power it needs) are qty × price in the
  instrument's currency × ``ctx.fx`` (the conversion into the base currency). Without a rate
  those checks pass as "skipped" and ``fx_rate`` rejects the order, never converting at 1.0.
  ``ctx.instrument`` is the symbol's entry in the instrument master, or its suffix-rule fallback
  (``instrument_known`` False); the market-rule checks (``market_rules``: instrument, lot and
  tick size, daily limit, fx_rate, T+1, self-trade) read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache

from redfire.risk.check_result import CheckResult
from redfire.risk.fx import Conversion, MissingRate, identity
from redfire.risk.instruments import Instrument, fallback_instrument
from redfire.risk.limits import Limits
from redfire.risk.market_rules import (
    MarketOrder,
    RestingOrder,
    check_daily_limit,
    check_fx_rate,
    check_instrument,
    check_lot_size,
    check_self_trade,
    check_t_plus_one,
    check_tick_size,
)
from redfire.risk.markets import Market, market_of
from redfire.risk.settlement import Sellable
from redfire.risk.vocabulary import ACTIVE, HALTED, SIDES, TRADING_STATES

__all__ = ["CHECKS", "CHECK_NAMES", "CheckResult", "OrderContext", "RestingOrder", "run_checks"]

ORDER_ACTIONS = frozenset({"NEW", "REPLACE"})
RELATIVE_TOLERANCE = 1e-9
# Placeholders for "not given" in an OrderContext, replaced in ``__post_init__``.
_UNRESOLVED: Instrument = fallback_instrument("UNRESOLVED")
_UNCONVERTED: Conversion = identity("XXX")


@dataclass(slots=True)
class OrderContext:
    """Everything the checks need about one order and its account, gathered by the caller.

    ``ts`` is now (epoch ms); ``price_ts`` the time of ``reference_price``. ``market`` defaults
    to the symbol's suffix (``markets.market_of``). Counts are *before* this order:
    ``recent_order_count`` orders and ``recent_cancel_count`` cancels inside the limit windows
    (``order_rate_window_ms``, ``cancel_rate_window_ms``), ``active_order_count`` open orders.
    ``symbol_exposure`` defaults to ``position_qty × mark_price``. ``drawdown`` is a fraction of
    peak equity (0.15 = 15% below the high-water mark). ``var_before`` / ``var_after`` are the
    account VaR without and with the order (incremental VaR, computed by the caller).
    ``reserved_buying_power`` is the cash held for open orders (see ``buying_power_to_reserve``);
    for a REPLACE, leave out what the replaced order reserved.

    ``instrument`` is the symbol's reference data (``instrument_known``: from the master, not the
    suffix-rule fallback); left out, the fallback is used, with ``board_lot`` and ``is_st``
    applied to it. ``fx`` converts the instrument's currency into the account's base currency
    (left out: none needed, the identity). ``sellable`` is the T+1 state of the symbol today
    (``settlement.sellable``); ``resting_orders`` the live orders of the account and of its
    self-trade group in the symbol, without the order a REPLACE replaces.
    """

    account: str
    order_id: str
    symbol: str
    side: str
    qty: float
    price: float | None
    reference_price: float | None
    ts: int
    price_ts: int | None = None
    market: Market | None = None
    action: str = "NEW"
    position_qty: float = 0.0
    equity: float = 0.0
    cash: float = 0.0
    reserved_buying_power: float = 0.0
    gross_exposure: float = 0.0
    net_exposure: float = 0.0
    symbol_exposure: float | None = None
    daily_pnl: float = 0.0
    drawdown: float = 0.0
    trading_state: str = ACTIVE
    active_order_count: int = 0
    recent_order_count: int = 0
    recent_cancel_count: int = 0
    is_duplicate: bool = False
    restricted_symbols: frozenset[str] = frozenset()
    var_before: float | None = None
    var_after: float | None = None
    previous_close: float | None = None
    is_st: bool = False
    board_lot: int | None = None
    instrument: Instrument = field(default_factory=lambda: _UNRESOLVED)
    instrument_known: bool = False
    fx: Conversion | MissingRate = field(default_factory=lambda: _UNCONVERTED)
    sellable: Sellable | None = None
    resting_orders: tuple[RestingOrder, ...] = ()
    # The rate of ``fx`` (None when it is missing): set from ``fx``.
    fx_rate: float | None = field(init=False, default=None)
    # Derived once in __post_init__ (several checks read each of them).
    exposure_before_value: float | None = field(init=False, repr=False, default=None)
    exposure_after_value: float | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.instrument is _UNRESOLVED:
            self.instrument = _default_instrument(self.symbol, self.board_lot, self.is_st)
        if self.market is None:
            self.market = market_of(self.symbol)
        elif type(self.market) is not Market:
            self.market = Market(self.market)
        fx = self.fx
        if fx is _UNCONVERTED:
            fx = self.fx = identity(self.instrument.currency)
        self.fx_rate = fx.rate if type(fx) is Conversion else None
        # Messages are built only for an invalid context: this runs for every order.
        if self.side not in SIDES:
            _invalid(f"side must be BUY or SELL, got {self.side!r}")
        if self.action not in ORDER_ACTIONS:
            _invalid(f"action must be NEW or REPLACE, got {self.action!r}")
        if self.trading_state not in TRADING_STATES:
            states = sorted(TRADING_STATES)
            _invalid(f"trading_state must be one of {states}, got {self.trading_state!r}")
        if not _positive(self.qty):
            _invalid(f"qty must be a positive number, got {self.qty!r}")
        for name in ("price", "reference_price", "previous_close"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                _invalid(f"{name} must be > 0, got {value!r}")
        self.exposure_before_value = before = _exposure_before(self)
        mark = base_price(mark_price(self), self)
        self.exposure_after_value = (
            None if before is None or mark is None else before + signed_qty(self) * mark
        )

    @property
    def venue(self) -> Market:
        """Return the resolved market (never None after construction)."""
        return self.market if self.market is not None else market_of(self.symbol)


Check = Callable[[OrderContext, Limits], CheckResult]


@lru_cache(maxsize=4096)
def _default_instrument(symbol: str, board_lot: int | None, is_st: bool) -> Instrument:
    """Return the suffix-rule instrument of ``symbol``, with a caller's lot or ST flag."""
    instrument = fallback_instrument(symbol)
    if board_lot is not None:
        instrument = replace(instrument, lot_size=board_lot, min_order_qty=None)
    if is_st and instrument.board is not None:
        instrument = replace(instrument, is_st=True)
    return instrument


def as_market_order(ctx: OrderContext) -> MarketOrder:
    """Return ``ctx`` typed as a ``MarketOrder`` (mypy proves the market rules can read it)."""
    return ctx


def _invalid(message: str) -> None:
    raise ValueError(f"invalid OrderContext: {message}")


def _positive(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


# --- derived quantities -------------------------------------------------------------------


def signed_qty(ctx: OrderContext) -> float:
    """Return the order quantity, positive for BUY and negative for SELL."""
    return ctx.qty if ctx.side == "BUY" else -ctx.qty


def position_after(ctx: OrderContext) -> float:
    """Return the position in the symbol if the order fills completely."""
    return ctx.position_qty + signed_qty(ctx)


def order_price(ctx: OrderContext) -> float | None:
    """Return the limit price, or the reference price for a market order."""
    return ctx.price if ctx.price is not None else ctx.reference_price


def mark_price(ctx: OrderContext) -> float | None:
    """Return the reference price, or the limit price when there is none."""
    return ctx.reference_price if ctx.reference_price is not None else ctx.price


def base_price(price: float | None, ctx: OrderContext) -> float | None:
    """Return a price of the instrument in the base currency, or None without price or rate."""
    rate = ctx.fx_rate
    return None if price is None or rate is None else price * rate


def order_notional(ctx: OrderContext) -> float | None:
    """Return qty × order price in the base currency, or None without a price or a rate."""
    price = base_price(order_price(ctx), ctx)
    return None if price is None else ctx.qty * price


def exposure_before(ctx: OrderContext) -> float | None:
    """Return the signed market value (base currency) held in the symbol before the order."""
    return ctx.exposure_before_value


def _exposure_before(ctx: OrderContext) -> float | None:
    if ctx.symbol_exposure is not None:
        return ctx.symbol_exposure
    mark = base_price(mark_price(ctx), ctx)
    if mark is None:
        return 0.0 if ctx.position_qty == 0 else None
    return ctx.position_qty * mark


def exposure_after(ctx: OrderContext) -> float | None:
    """Return the signed market value (base currency) in the symbol after the order."""
    return ctx.exposure_after_value


def gross_after(ctx: OrderContext) -> float | None:
    """Return the account's sum of |market value| after the order."""
    before, after = ctx.exposure_before_value, ctx.exposure_after_value
    if before is None or after is None:
        return None
    return ctx.gross_exposure - abs(before) + abs(after)


def net_after(ctx: OrderContext) -> float | None:
    """Return the account's signed sum of market value after the order."""
    before, after = ctx.exposure_before_value, ctx.exposure_after_value
    if before is None or after is None:
        return None
    return ctx.net_exposure - before + after


def is_risk_reducing(ctx: OrderContext) -> bool:
    """Tell whether the order shrinks |position| without flipping its sign."""
    before, after = ctx.position_qty, position_after(ctx)
    return before != 0 and abs(after) < abs(before) and after * before >= 0


def opening_qty(ctx: OrderContext) -> float:
    """Return the part of the order that opens or extends a position (0 if it only reduces)."""
    before, after = ctx.position_qty, position_after(ctx)
    if after * before < 0:
        return abs(after)
    return max(0.0, abs(after) - abs(before))


def buying_power_available(ctx: OrderContext, limits: Limits) -> float:
    """Return (cash − reserved) × max_leverage."""
    return (ctx.cash - ctx.reserved_buying_power) * limits.max_leverage


def buying_power_to_reserve(ctx: OrderContext, limits: Limits) -> float:
    """Return the base-currency cash to reserve for this order: opening notional / leverage."""
    price = base_price(order_price(ctx), ctx)
    if price is None:
        return 0.0
    return opening_qty(ctx) * price / limits.max_leverage


# --- formatting and comparison ------------------------------------------------------------


def exceeds(value: float, limit: float) -> bool:
    """Tell whether ``value`` is past ``limit`` by more than the float tolerance."""
    # Most values are within their limit: the first comparison settles them.
    return value > limit and value - limit > RELATIVE_TOLERANCE * max(1.0, abs(limit))


def money(value: float) -> str:
    """Format an amount as 1,250,000.00."""
    return f"{value:,.2f}"


def quantity(value: float) -> str:
    """Format a quantity without trailing zeros (1,500 or 0.25)."""
    text = f"{value:,.8f}".rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"


def percent(value: float) -> str:
    """Format a fraction as a percentage (0.05 → 5.00%)."""
    return f"{value:.2%}"


def count(value: float) -> str:
    """Format a count or a duration with thousands separators."""
    return f"{value:,.0f}"


def _float(number: float | None) -> float | None:
    return None if number is None else float(number)


@cache
def _pass(check: str, note: str = "within its limit") -> CheckResult:
    """Return the shared result of a passed check: nothing is formatted when a check passes."""
    return CheckResult(check, True, None, None, note)


def _failed(check: str, value: float | None, limit: float | None, message: str) -> CheckResult:
    return CheckResult(check, False, _float(value), _float(limit), message)


@cache
def _off(check: str, limit_name: str) -> CheckResult:
    return _pass(check, f"{limit_name} is off")


def _no_price(check: str) -> CheckResult:
    return _pass(check, "skipped: no price for the symbol")


def _unvalued(check: str, ctx: OrderContext) -> CheckResult:
    """Return the pass of a check that could not value the order: no price, or no FX rate."""
    if ctx.fx_rate is None and mark_price(ctx) is not None:
        return _pass(check, "skipped: no FX rate to the base currency (see fx_rate)")
    return _no_price(check)


def _upper_limit(
    check: str,
    label: str,
    value: float,
    limit: float,
    limit_name: str,
    fmt: Callable[[float], str],
    *,
    worsens: bool = True,
) -> CheckResult:
    """Compare ``value`` against an upper ``limit``; fail only if past it and ``worsens``."""
    if not exceeds(value, limit):
        return _pass(check)
    if not worsens:
        return _pass(check, f"past {limit_name}, but the order reduces it")
    return _failed(check, value, limit, f"{label} {fmt(value)} exceeds {limit_name} {fmt(limit)}")


# --- the checks ---------------------------------------------------------------------------


def check_trading_state(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject every order when HALTED; accept only risk-reducing orders when REDUCE_ONLY."""
    name = "trading_state"
    before, after = ctx.position_qty, position_after(ctx)
    if ctx.trading_state == HALTED:
        return _failed(name, None, None, "account is HALTED: new orders are rejected")
    if ctx.trading_state == ACTIVE or is_risk_reducing(ctx):
        return _pass(name, "the account accepts this order")
    return _failed(
        name,
        abs(after),
        abs(before),
        f"account is REDUCE_ONLY: order takes the position from {quantity(before)} to "
        f"{quantity(after)}; only orders that shrink |position| without flipping it are accepted",
    )


def check_duplicate_order_id(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject an order id that was already seen."""
    name = "duplicate_order_id"
    if ctx.is_duplicate:
        return _failed(name, None, None, f"order id {ctx.order_id} was already submitted")
    return _pass(name, "new order id")


def check_restricted_list(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject symbols on the account's restricted list or the caller's list."""
    name = "restricted_list"
    if ctx.symbol in limits.restricted_symbols or ctx.symbol in ctx.restricted_symbols:
        return _failed(name, None, None, f"symbol {ctx.symbol} is on the restricted list")
    return _pass(name, "symbol not restricted")


def check_known_symbol_with_price(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject symbols without a reference price (never quoted, so unknown)."""
    name = "known_symbol_with_price"
    if ctx.reference_price is None:
        return _failed(name, None, None, f"no reference price for {ctx.symbol}: unknown symbol")
    return _pass(name, "the symbol has a reference price")


def check_price_staleness(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject when the reference price is older than ``max_price_age_ms``."""
    name = "price_staleness"
    if limits.max_price_age_ms is None:
        return _off(name, "max_price_age_ms")
    if ctx.reference_price is None:
        return _no_price(name)
    if ctx.price_ts is None:
        return _failed(
            name, None, limits.max_price_age_ms, f"reference price of {ctx.symbol} has no time"
        )
    age = ctx.ts - ctx.price_ts
    if not exceeds(age, limits.max_price_age_ms):
        return _pass(name)
    return _upper_limit(
        name,
        "reference price age",
        age,
        limits.max_price_age_ms,
        "max_price_age_ms",
        lambda ms: f"{count(ms)} ms",
    )


def check_max_order_qty(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders larger than ``max_order_qty``."""
    name = "max_order_qty"
    if limits.max_order_qty is None:
        return _off(name, name)
    return _upper_limit(name, "order qty", ctx.qty, limits.max_order_qty, name, quantity)


def check_max_order_notional(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders whose qty × price exceeds ``max_order_notional``."""
    name = "max_order_notional"
    if limits.max_order_notional is None:
        return _off(name, name)
    notional = order_notional(ctx)
    if notional is None:
        return _unvalued(name, ctx)
    return _upper_limit(name, "order notional", notional, limits.max_order_notional, name, money)


def check_price_collar(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject limit prices further than ``price_collar_pct`` from the last price (fat finger)."""
    name = "price_collar"
    if limits.price_collar_pct is None:
        return _off(name, "price_collar_pct")
    if ctx.price is None:
        return _pass(name, "market order: no limit price")
    if ctx.reference_price is None:
        return _no_price(name)
    deviation = abs(ctx.price - ctx.reference_price) / ctx.reference_price
    if not exceeds(deviation, limits.price_collar_pct):
        return _pass(name)
    label = f"deviation of price {ctx.price:g} from last {ctx.reference_price:g} ="
    return _upper_limit(
        name, label, deviation, limits.price_collar_pct, "price_collar_pct", percent
    )


def check_order_rate(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject when this order would exceed ``max_orders_per_window`` in the window."""
    name = "order_rate"
    if limits.max_orders_per_window is None:
        return _off(name, "max_orders_per_window")
    value = ctx.recent_order_count + 1
    if not exceeds(value, limits.max_orders_per_window):
        return _pass(name)
    label = f"orders in {count(limits.order_rate_window_ms)} ms including this one:"
    return _upper_limit(
        name, label, value, limits.max_orders_per_window, "max_orders_per_window", count
    )


def check_cancel_rate(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject new orders while cancels in the window exceed ``max_cancels_per_window``."""
    name = "cancel_rate"
    if limits.max_cancels_per_window is None:
        return _off(name, "max_cancels_per_window")
    if not exceeds(ctx.recent_cancel_count, limits.max_cancels_per_window):
        return _pass(name)
    label = f"cancels in {count(limits.cancel_rate_window_ms)} ms:"
    return _upper_limit(
        name,
        label,
        ctx.recent_cancel_count,
        limits.max_cancels_per_window,
        "max_cancels_per_window",
        count,
    )


def check_max_active_orders(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject a NEW order that would make more than ``max_active_orders`` open orders."""
    name = "max_active_orders"
    if limits.max_active_orders is None:
        return _off(name, name)
    value = ctx.active_order_count + (1 if ctx.action == "NEW" else 0)
    return _upper_limit(name, "active orders", value, limits.max_active_orders, name, count)


def check_max_position_qty(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that grow |position| past the symbol's (or the account's) qty cap."""
    name = "max_position_qty"
    limit = limits.max_position_qty_by_symbol.get(ctx.symbol, limits.max_position_qty)
    if limit is None:
        return _off(name, name)
    after = abs(position_after(ctx))
    if not exceeds(after, limit):
        return _pass(name)
    worsens = after > abs(ctx.position_qty)
    return _upper_limit(
        name, f"|position| after in {ctx.symbol}", after, limit, name, quantity, worsens=worsens
    )


def check_max_position_notional(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that grow |market value| in the symbol past ``max_position_notional``."""
    name = "max_position_notional"
    if limits.max_position_notional is None:
        return _off(name, name)
    before, after = ctx.exposure_before_value, ctx.exposure_after_value
    if before is None or after is None:
        return _unvalued(name, ctx)
    if not exceeds(abs(after), limits.max_position_notional):
        return _pass(name)
    label = f"|position value| after in {ctx.symbol}"
    worsens = abs(after) > abs(before)
    return _upper_limit(
        name, label, abs(after), limits.max_position_notional, name, money, worsens=worsens
    )


def check_gross_exposure(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that grow gross exposure past ``max_gross_exposure``."""
    name = "gross_exposure"
    if limits.max_gross_exposure is None:
        return _off(name, "max_gross_exposure")
    after = gross_after(ctx)
    if after is None:
        return _unvalued(name, ctx)
    worsens = after > ctx.gross_exposure
    return _upper_limit(
        name,
        "gross exposure after",
        after,
        limits.max_gross_exposure,
        "max_gross_exposure",
        money,
        worsens=worsens,
    )


def check_net_exposure(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that grow |net exposure| past ``max_net_exposure``."""
    name = "net_exposure"
    if limits.max_net_exposure is None:
        return _off(name, "max_net_exposure")
    after = net_after(ctx)
    if after is None:
        return _unvalued(name, ctx)
    worsens = abs(after) > abs(ctx.net_exposure)
    return _upper_limit(
        name,
        "|net exposure| after",
        abs(after),
        limits.max_net_exposure,
        "max_net_exposure",
        money,
        worsens=worsens,
    )


def check_concentration(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that grow the symbol's weight in gross exposure past ``max_concentration``.

    Not checked while gross exposure after the order is below ``concentration_min_gross``.
    """
    name = "concentration"
    if limits.max_concentration is None:
        return _off(name, "max_concentration")
    before, after, gross = exposure_before(ctx), exposure_after(ctx), gross_after(ctx)
    if before is None or after is None or gross is None:
        return _unvalued(name, ctx)
    if gross <= 0 or gross < limits.concentration_min_gross:
        return _pass(name, "gross exposure below concentration_min_gross: not checked")
    weight = abs(after) / gross
    if not exceeds(weight, limits.max_concentration):
        return _pass(name)
    worsens = abs(after) > abs(before)
    return _upper_limit(
        name,
        f"{ctx.symbol} weight after",
        weight,
        limits.max_concentration,
        "max_concentration",
        percent,
        worsens=worsens,
    )


def check_buying_power(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders whose opening notional (base currency) exceeds (cash − reserved) × leverage."""
    name = "buying_power"
    opening = opening_qty(ctx)
    if opening == 0:
        return _pass(name, "order only reduces the position: no buying power needed")
    price = base_price(order_price(ctx), ctx)
    if price is None:
        return _unvalued(name, ctx)
    required = opening * price
    available = buying_power_available(ctx, limits)
    if not exceeds(required, available):
        return _pass(name)
    terms = (
        f"(cash {money(ctx.cash)} − reserved {money(ctx.reserved_buying_power)}) "
        f"× leverage {limits.max_leverage:g}"
    )
    message = f"required buying power {money(required)} exceeds available {money(available)} "
    return _failed(name, required, available, message + terms)


def _stop(
    name: str,
    ctx: OrderContext,
    label: str,
    value: float,
    limit: float,
    limit_name: str,
    fmt: Callable[[float], str],
) -> CheckResult:
    """Block risk-increasing orders while ``value`` is past ``limit`` (a loss stop)."""
    if not exceeds(value, limit):
        return _pass(name)
    if is_risk_reducing(ctx):
        return _pass(name, f"past {limit_name}; risk-reducing order accepted")
    shown = f"{label} {fmt(value)}"
    return _failed(
        name,
        value,
        limit,
        f"{shown} exceeds {limit_name} {fmt(limit)}: only risk-reducing orders are accepted",
    )


def check_daily_loss(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Block risk-increasing orders once the day's loss exceeds ``max_daily_loss``."""
    name = "daily_loss"
    if limits.max_daily_loss is None:
        return _off(name, "max_daily_loss")
    loss = -ctx.daily_pnl
    return _stop(name, ctx, "daily loss", loss, limits.max_daily_loss, "max_daily_loss", money)


def check_drawdown(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Block risk-increasing orders once drawdown exceeds ``max_drawdown``."""
    name = "drawdown"
    if limits.max_drawdown is None:
        return _off(name, "max_drawdown")
    return _stop(name, ctx, "drawdown", ctx.drawdown, limits.max_drawdown, "max_drawdown", percent)


def _var_increases(ctx: OrderContext) -> bool:
    """Tell whether the order raises VaR (an unknown VaR before counts as zero)."""
    return ctx.var_after is not None and ctx.var_after > (ctx.var_before or 0.0)


def check_var_limit(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that raise VaR past ``max_var``; an order that lowers VaR always passes."""
    name = "var_limit"
    if limits.max_var is None:
        return _off(name, "max_var")
    if ctx.var_after is None:
        return _pass(name, "skipped: no VaR estimate for the order")
    if not exceeds(ctx.var_after, limits.max_var):
        return _pass(name)
    return _upper_limit(
        name,
        "VaR after",
        ctx.var_after,
        limits.max_var,
        "max_var",
        money,
        worsens=_var_increases(ctx),
    )


def check_var_pct_limit(ctx: OrderContext, limits: Limits) -> CheckResult:
    """Reject orders that raise VaR / equity past ``max_var_pct``; lowering VaR always passes."""
    name = "var_pct_limit"
    if limits.max_var_pct is None:
        return _off(name, "max_var_pct")
    if ctx.var_after is None:
        return _pass(name, "skipped: no VaR estimate for the order")
    if ctx.equity <= 0:
        if _var_increases(ctx) and ctx.var_after > 0:
            message = f"VaR after {money(ctx.var_after)} with equity {money(ctx.equity)} <= 0"
            return _failed(name, None, limits.max_var_pct, message)
        return _pass(name, "equity <= 0 but the order lowers VaR")
    ratio = ctx.var_after / ctx.equity
    if not exceeds(ratio, limits.max_var_pct):
        return _pass(name)
    label = f"VaR after {money(ctx.var_after)} / equity {money(ctx.equity)} ="
    return _upper_limit(
        name, label, ratio, limits.max_var_pct, "max_var_pct", percent, worsens=_var_increases(ctx)
    )


CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_duplicate_order_id,
    check_restricted_list,
    check_known_symbol_with_price,
    check_instrument,
    check_price_staleness,
    check_fx_rate,
    check_lot_size,
    check_tick_size,
    check_max_order_qty,
    check_max_order_notional,
    check_price_collar,
    check_daily_limit,
    check_self_trade,
    check_order_rate,
    check_cancel_rate,
    check_max_active_orders,
    check_t_plus_one,
    check_max_position_qty,
    check_max_position_notional,
    check_gross_exposure,
    check_net_exposure,
    check_concentration,
    check_buying_power,
    check_daily_loss,
    check_drawdown,
    check_var_limit,
    check_var_pct_limit,
)
CHECK_NAMES: tuple[str, ...] = tuple(check.__name__.removeprefix("check_") for check in CHECKS)


def run_checks(ctx: OrderContext, limits: Limits) -> list[CheckResult]:
    """Evaluate every check, in ``CHECKS`` order, without stopping at a failure."""
    return [check(ctx, limits) for check in CHECKS]


def failures(ctx: OrderContext, limits: Limits) -> list[CheckResult]:
    """Evaluate every check and return the failed ones, in ``CHECKS`` order."""
    failed_results = []
    for check in CHECKS:
        result = check(ctx, limits)
        if not result.passed:
            failed_results.append(result)
    return failed_results


def failed(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Return the failed results, in order."""
    return [result for result in results if not result.passed]


def approved(results: Sequence[CheckResult]) -> bool:
    """Tell whether every check passed."""
    return all(result.passed for result in results)
