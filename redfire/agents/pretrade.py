"""Gather what the pre-trade checks need about one order, without awaiting.

Everything comes from in-memory indexes and mirrors (positions, live orders,
prices, windows, limits), so building a context costs O(positions held).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from redfire.app import settings
from redfire.risk import valuation as risk_valuation
from redfire.risk.bars import parse_interval
from redfire.risk.checks import CheckResult, OrderContext, run_checks
from redfire.risk.flow import SlidingWindowCounter
from redfire.risk.limits import Limits
from redfire.risk.measures import IncrementalVaR, InsufficientHistory
from redfire.schemas.records import OrderRequest, Reason
from redfire.tables import mirrors, store
from redfire.tables.accounts import AccountState
from redfire.tables.books import books

DAILY_BARS = parse_interval(settings.bar_interval) == 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account marked at the last prices."""

    equity: float
    gross: float
    net: float
    symbol_exposure: float
    symbol_qty: float


@dataclass(frozen=True, slots=True)
class VaRPair:
    before: float | None
    after: float | None


class FlowCounters:
    """Recent order and cancel requests per account (in memory; reset on restart)."""

    def __init__(self) -> None:
        self.orders: dict[str, SlidingWindowCounter] = defaultdict(SlidingWindowCounter)
        self.cancels: dict[str, SlidingWindowCounter] = defaultdict(SlidingWindowCounter)
        self.rejects: dict[str, SlidingWindowCounter] = defaultdict(SlidingWindowCounter)
        self.last_ts: dict[str, int] = {}

    def record_order(self, account: str, ts: int, rejected: bool = False) -> None:
        self.orders[account] = self.orders[account].add(ts)
        if rejected:
            self.rejects[account] = self.rejects[account].add(ts)
        self.last_ts[account] = max(ts, self.last_ts.get(account, ts))

    def reject_ratio(self, account: str, window_ms: int = 60_000) -> float:
        """Return rejected / decided orders over the window before the last order."""
        now = self.last_ts.get(account)
        if now is None:
            return 0.0
        decided = self.orders[account].count(now, window_ms)
        return 0.0 if decided == 0 else self.rejects[account].count(now, window_ms) / decided

    def orders_per_s(self, account: str) -> float:
        """Return the order requests in the last second before the last order."""
        now = self.last_ts.get(account)
        return 0.0 if now is None else float(self.orders[account].count(now, 1000))

    def record_cancel(self, account: str, ts: int) -> None:
        self.cancels[account] = self.cancels[account].add(ts)


flow = FlowCounters()


def valuation(account: AccountState, symbol: str) -> Valuation:
    """Value the account's positions at the mirrored last prices."""
    gross = net = symbol_value = symbol_qty = 0.0
    for held, qty in store.position_index.quantities(account.account).items():
        mark = mirrors.prices.get(held)
        value = 0.0 if mark is None else qty * mark.price
        gross += abs(value)
        net += value
        if held == symbol:
            symbol_value, symbol_qty = value, qty
    return Valuation(float(account.cash) + net, gross, net, symbol_value, symbol_qty)


def incremental_var(order: OrderRequest, reference: float | None, now_ms: int) -> VaRPair:
    """Return the account VaR without and with the order (exact, O(T))."""
    price = order.price or reference
    book = books.book(order.account, now_ms)
    if price is None or isinstance(book, InsufficientHistory):
        return VaRPair(None, None)
    delta = (order.qty if order.side == "BUY" else -order.qty) * price
    window = None if order.symbol in book.symbols else books.window(order.symbol)
    result = book.incremental(order.symbol, delta, window)
    if isinstance(result, IncrementalVaR):
        return VaRPair(result.var_before, result.var_after)
    return VaRPair(book.var(), None)


def drawdown(account: AccountState, equity: float) -> float:
    """Return the fall from the equity high-water mark, as a fraction of it.

    0 without a high-water mark: an account that is not funded yet has no drawdown
    evidence (``redfire.risk.valuation``), so the drawdown stop cannot block it.
    """
    return risk_valuation.drawdown(equity, account.equity_high) or 0.0


def order_context(
    order: OrderRequest,
    limits: Limits,
    duplicate: bool,
    reserved_by_replaced: float = 0.0,
) -> OrderContext:
    """Return the checks' view of ``order`` and its account right now."""
    account = store.get_account(order.account)
    mark = mirrors.prices.get(order.symbol)
    reference = None if mark is None else mark.price
    value = valuation(account, order.symbol)
    var = incremental_var(order, reference, order.ts)
    window = mirrors.windows.get(order.symbol) if DAILY_BARS else None
    day_start = account.day_start_equity
    return OrderContext(
        account=order.account,
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        price=order.price,
        reference_price=reference,
        ts=order.ts,
        price_ts=None if mark is None else mark.ts,
        action=order.action,
        position_qty=value.symbol_qty,
        equity=value.equity,
        cash=float(account.cash),
        reserved_buying_power=float(account.reserved) - reserved_by_replaced,
        gross_exposure=value.gross,
        net_exposure=value.net,
        symbol_exposure=value.symbol_exposure,
        daily_pnl=0.0 if day_start is None else value.equity - day_start,
        drawdown=drawdown(account, value.equity),
        trading_state=store.effective_trading_state(account),
        active_order_count=store.live_orders.count(order.account),
        recent_order_count=flow.orders[order.account].count(order.ts, limits.order_rate_window_ms),
        recent_cancel_count=flow.cancels[order.account].count(
            order.ts, limits.cancel_rate_window_ms
        ),
        is_duplicate=duplicate,
        var_before=var.before,
        var_after=var.after,
        previous_close=None if window is None else window.last_close,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of every check on one order: failed reasons and its VaR."""

    reasons: tuple[Reason, ...]
    var_before: float | None
    var_after: float | None
    reference_price: float | None


def reasons_of(results: list[CheckResult]) -> tuple[Reason, ...]:
    """Return a Reason for every failed check."""
    return tuple(Reason(r.check, r.message, r.value, r.limit) for r in results if not r.passed)


def evaluate(
    order: OrderRequest, limits: Limits, duplicate: bool, reserved_by_replaced: float = 0.0
) -> Verdict:
    """Run every check on ``order`` against the account as it stands now."""
    ctx = order_context(order, limits, duplicate, reserved_by_replaced)
    results = run_checks(ctx, limits)
    return Verdict(reasons_of(results), ctx.var_before, ctx.var_after, ctx.reference_price)
