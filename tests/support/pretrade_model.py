"""An independent model of RedFire's pre-trade limits, to check the order agent against.

Written again from DESIGN §7 and the meaning of each limit, with its own bookkeeping of
cash, positions, open orders and return windows, and no import from ``redfire``: a bug in
``redfire.risk.checks`` or in the agent's state cannot hide in the expectation.

The rules it states:

* every NEW order gets one decision listing *every* failed check;
* prices: the *order price* is the limit price, or the last price for a market order
  (order notional, buying power, the VaR delta); the *mark* is the last price (exposure,
  position value, concentration), the limit price only when the symbol has no last price;
* per-order limits (qty, notional, collar, lot, tick) fail when past the limit;
* post-trade limits (position qty, position value, gross, net, concentration, VaR) fail
  only when the value after the order is past the limit **and** the order makes it worse;
* "past the limit" means past it by more than 1e-9 relative (at the limit passes);
* buying power: the quantity that opens or extends a position, times the order price,
  must be within (cash − reserved) × max_leverage; a live BUY order reserves its
  remaining qty × order price (the cash it will spend), released by fills and cancels;
* historical VaR: scenario P&L s = R·v over the last T returns of every held symbol
  (T the shortest window, at most the configured window), VaR = −(k-th smallest s)
  with k = ⌈T·(1−c)⌉ computed exactly, at least 1. An order adds qty × order price of
  exposure in its symbol.

Only US symbols are modelled (1-share lots, 0.01 tick at or above $1, 0.0001 below).
Limits the model does not implement must be switched off (``None``), else it refuses to
predict rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
VaRPair = tuple[float | None, float | None]
TOLERANCE = 1e-9

# Limits the model cannot predict: a scripted test must switch these off.
UNMODELLED_LIMITS: tuple[str, ...] = (
    "max_daily_loss",
    "max_drawdown",
    "max_var_pct",
    "max_orders_per_window",
    "max_cancels_per_window",
    "max_active_orders",
    "daily_limit_pct",
)

# Every limit the model reads, with the value it must be given (no silent defaults).
MODELLED_LIMITS: tuple[str, ...] = (
    "max_order_qty",
    "max_order_notional",
    "max_price_age_ms",
    "price_collar_pct",
    "check_lot_size",
    "check_tick_size",
    "max_position_qty",
    "max_position_qty_by_symbol",
    "max_position_notional",
    "max_gross_exposure",
    "max_net_exposure",
    "max_concentration",
    "concentration_min_gross",
    "max_leverage",
    "max_var",
    "restricted_symbols",
)


def past(value: float, limit: float) -> bool:
    """Tell whether ``value`` is beyond ``limit`` by more than the float tolerance."""
    return value - limit > TOLERANCE * max(1.0, abs(limit))


def tail_count(observations: int, confidence: float) -> int:
    """Return k = ⌈T·(1−c)⌉ (at least 1), computed in exact decimal arithmetic."""
    exact = Fraction(observations) * (1 - Fraction(Decimal(repr(confidence))))
    return max(1, math.ceil(exact))


def simple_returns(closes: Sequence[float]) -> FloatArray:
    """Return close-to-close simple returns, oldest first."""
    prices = np.asarray(closes, dtype=np.float64)
    return prices[1:] / prices[:-1] - 1.0


def is_multiple(value: float, step: Decimal) -> bool:
    """Tell whether ``value`` (as written) is an exact multiple of ``step``."""
    return Decimal(repr(float(value))) % step == 0


@dataclass(frozen=True, slots=True)
class Order:
    """One NEW order request as the test sends it."""

    order_id: str
    account: str
    symbol: str
    side: str
    qty: float
    price: float | None
    ts: int

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side == "BUY" else -self.qty

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "price": self.price,
            "order_type": "MARKET" if self.price is None else "LIMIT",
            "action": "NEW",
            "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class Expected:
    """The model's decision for one order, and the account VaR without and with it."""

    decision: str
    failed: frozenset[str]
    var_before: float | None
    var_after: float | None
    order_price: float | None


@dataclass(slots=True)
class OpenOrder:
    symbol: str
    side: str
    leaves: float
    price: float


@dataclass(slots=True)
class AccountBook:
    cash: float = 0.0
    positions: dict[str, float] = field(default_factory=dict)
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    state: str = "ACTIVE"

    @property
    def reserved(self) -> float:
        return sum(o.leaves * o.price for o in self.open_orders.values() if o.side == "BUY")


class PretradeModel:
    """Predict decisions and VaR for a scripted day, and keep the books it implies."""

    def __init__(
        self,
        limits: Mapping[str, Mapping[str, Any]],
        *,
        confidence: float,
        var_window: int,
        min_window: int = 20,
    ) -> None:
        for account, values in limits.items():
            missing = [name for name in MODELLED_LIMITS if name not in values]
            if missing:
                raise ValueError(f"{account}: give every modelled limit explicitly: {missing}")
            unmodelled = [name for name in UNMODELLED_LIMITS if values.get(name) is not None]
            if unmodelled:
                raise ValueError(f"{account}: switch off the unmodelled limits {unmodelled}")
        self.limits = {a: dict(v) for a, v in limits.items()}
        self.confidence = confidence
        self.var_window = var_window
        self.min_window = min_window
        self.accounts: dict[str, AccountBook] = {a: AccountBook() for a in limits}
        self.prices: dict[str, tuple[float, int]] = {}
        self.returns: dict[str, FloatArray] = {}

    # -- market and back office --------------------------------------------------------

    def set_history(self, symbol: str, closes: Sequence[float]) -> None:
        """Set the daily closes behind the symbol's return window (oldest first)."""
        self.returns[symbol] = simple_returns(closes)[-self.var_window :]

    def set_price(self, symbol: str, price: float, ts: int) -> None:
        self.prices[symbol] = (price, ts)

    def set_cash(self, account: str, cash: float) -> None:
        self.accounts[account].cash = cash

    def set_limit(self, account: str, name: str, value: Any) -> None:
        self.limits[account][name] = value

    def mark(self, symbol: str) -> float | None:
        last = self.prices.get(symbol)
        return None if last is None else last[0]

    # -- valuation and VaR -------------------------------------------------------------

    def exposures(self, account: str) -> dict[str, float]:
        """Return qty × last price per held symbol (unpriced symbols count as zero)."""
        book = self.accounts[account]
        return {s: q * (self.mark(s) or 0.0) for s, q in book.positions.items() if q != 0}

    def gross(self, account: str) -> float:
        return sum(abs(v) for v in self.exposures(account).values())

    def net(self, account: str) -> float:
        return sum(self.exposures(account).values())

    def window(self, symbol: str) -> FloatArray | None:
        returns = self.returns.get(symbol)
        if returns is None or returns.size < self.min_window:
            return None
        return returns

    def var_of(self, exposures: Mapping[str, float], rows: int | None = None) -> float | None:
        """Return historical VaR of market values per symbol, or None without history."""
        held = sorted(s for s, v in exposures.items() if v != 0)
        if not held:
            return 0.0
        windows = [self.window(s) for s in held]
        if any(w is None for w in windows):
            return None
        usable = [w for w in windows if w is not None]
        t = rows if rows is not None else min(w.size for w in usable)
        if any(w.size < t for w in usable):
            return None
        matrix = np.column_stack([w[-t:] for w in usable])
        pnl = matrix @ np.array([exposures[s] for s in held])
        k = tail_count(t, self.confidence)
        return -float(np.sort(pnl)[k - 1])

    def var_pair(self, order: Order, order_price: float | None) -> VaRPair:
        """Return the account VaR before and after the order fills at its order price."""
        account = order.account
        if any(self.mark(s) is None for s, q in self.accounts[account].positions.items() if q):
            return None, None
        current = self.exposures(account)
        before = self.var_of(current)
        if before is None or order_price is None:
            return before, None
        held = [s for s, v in current.items() if v != 0]
        if order.symbol not in held and self.window(order.symbol) is None:
            return before, None
        # A held book fixes the scenario count; a first symbol brings its own window.
        rows = min((w.size for s in held if (w := self.window(s)) is not None), default=None)
        after = dict(current)
        after[order.symbol] = after.get(order.symbol, 0.0) + order.signed_qty * order_price
        return before, self.var_of(after, rows)

    # -- the decision ------------------------------------------------------------------

    def decide(self, order: Order) -> Expected:
        """Predict the decision; an approved order becomes an open order (reserving cash)."""
        book = self.accounts[order.account]
        limits = self.limits[order.account]
        mark = self.mark(order.symbol)
        order_price = order.price if order.price is not None else mark
        position = book.positions.get(order.symbol, 0.0)
        after_qty = position + order.signed_qty
        before_value = position * (mark or 0.0)
        unit = mark if mark is not None else order.price
        after_value = None if unit is None else before_value + order.signed_qty * unit
        gross_before = self.gross(order.account)
        net_before = self.net(order.account)
        var_before, var_after = self.var_pair(order, order_price)
        failed: set[str] = set()

        def check(name: str, fails: bool) -> None:
            if fails:
                failed.add(name)

        check(
            "trading_state",
            book.state == "HALTED"
            or (book.state == "REDUCE_ONLY" and not reduces(position, after_qty)),
        )
        check("duplicate_order_id", order.order_id in book.seen)
        check("restricted_list", order.symbol in limits["restricted_symbols"])
        check("known_symbol_with_price", mark is None)
        age_limit = limits["max_price_age_ms"]
        if age_limit is not None and mark is not None:
            check("price_staleness", past(order.ts - self.prices[order.symbol][1], age_limit))
        if limits["check_lot_size"]:
            check("lot_size", not is_multiple(order.qty, Decimal(1)))
        if limits["check_tick_size"] and order.price is not None:
            tick = Decimal("0.01") if order.price >= 1 else Decimal("0.0001")
            check("tick_size", not is_multiple(order.price, tick))
        if limits["max_order_qty"] is not None:
            check("max_order_qty", past(order.qty, limits["max_order_qty"]))
        if limits["max_order_notional"] is not None and order_price is not None:
            check("max_order_notional", past(order.qty * order_price, limits["max_order_notional"]))
        collar = limits["price_collar_pct"]
        if collar is not None and order.price is not None and mark is not None:
            check("price_collar", past(abs(order.price - mark) / mark, collar))
        cap = limits["max_position_qty_by_symbol"].get(order.symbol, limits["max_position_qty"])
        if cap is not None:
            grows = abs(after_qty) > abs(position)
            check("max_position_qty", grows and past(abs(after_qty), cap))
        if after_value is not None:
            grows = abs(after_value) > abs(before_value)
            gross_after = gross_before - abs(before_value) + abs(after_value)
            net_after = net_before - before_value + after_value
            if limits["max_position_notional"] is not None:
                check(
                    "max_position_notional",
                    grows and past(abs(after_value), limits["max_position_notional"]),
                )
            if limits["max_gross_exposure"] is not None:
                check(
                    "gross_exposure",
                    gross_after > gross_before and past(gross_after, limits["max_gross_exposure"]),
                )
            if limits["max_net_exposure"] is not None:
                check(
                    "net_exposure",
                    abs(net_after) > abs(net_before)
                    and past(abs(net_after), limits["max_net_exposure"]),
                )
            weighed = gross_after > 0 and gross_after >= limits["concentration_min_gross"]
            if limits["max_concentration"] is not None and weighed:
                weight = abs(after_value) / gross_after
                check("concentration", grows and past(weight, limits["max_concentration"]))
        opening = opening_qty(position, after_qty)
        if opening > 0 and order_price is not None:
            available = (book.cash - book.reserved) * limits["max_leverage"]
            check("buying_power", past(opening * order_price, available))
        if limits["max_var"] is not None and var_after is not None:
            raises = var_after > (var_before or 0.0)
            check("var_limit", raises and past(var_after, limits["max_var"]))

        book.seen.add(order.order_id)
        decision = "REJECTED" if failed else "APPROVED"
        if not failed and order_price is not None:
            book.open_orders[order.order_id] = OpenOrder(
                order.symbol, order.side, order.qty, order_price
            )
        return Expected(decision, frozenset(failed), var_before, var_after, order_price)

    # -- what happens after ------------------------------------------------------------

    def fill(self, account: str, order_id: str, qty: float, price: float, fee: float) -> None:
        """Apply an execution of an open order: position, cash, reservation."""
        book = self.accounts[account]
        live = book.open_orders[order_id]
        signed = qty if live.side == "BUY" else -qty
        book.positions[live.symbol] = book.positions.get(live.symbol, 0.0) + signed
        book.cash += -signed * price - fee
        live.leaves -= qty
        if live.leaves <= 0:
            del book.open_orders[order_id]

    def cancel(self, account: str, order_id: str) -> None:
        self.accounts[account].open_orders.pop(order_id, None)


def reduces(before: float, after: float) -> bool:
    """Tell whether a position change shrinks |position| without flipping its sign."""
    return before != 0 and abs(after) < abs(before) and after * before >= 0


def opening_qty(before: float, after: float) -> float:
    """Return the quantity that opens or extends a position."""
    if before * after < 0:
        return abs(after)
    return max(0.0, abs(after) - abs(before))
