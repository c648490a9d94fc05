"""Gather what the pre-trade checks need about one order, from memory only.

Everything comes from the account aggregate, the market mirrors and the live
configuration, so building a context costs O(positions held) and awaits
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from redfire.risk import valuation
from redfire.risk.checks import CheckResult, OrderContext, failures
from redfire.risk.limits import Limits
from redfire.risk.measures import IncrementalVaR, InsufficientHistory
from redfire.risk.vocabulary import BUY, stricter
from redfire.schemas.records import OrderRequest, Reason
from redfire.state.account import AccountAggregate
from redfire.state.worker import WorkerState


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account marked at the last prices, and one symbol's share of it."""

    equity: float
    gross: float
    net: float
    symbol_exposure: float
    symbol_qty: float


@dataclass(frozen=True, slots=True)
class VaRPair:
    before: float | None
    after: float | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of every check on one order: failed reasons and its VaR."""

    reasons: tuple[Reason, ...]
    var_before: float | None
    var_after: float | None
    reference_price: float | None


class PreTrade:
    """Run every pre-trade check on an order against its account as it stands."""

    def __init__(self, state: WorkerState, daily_bars: bool) -> None:
        self.state = state
        self.market = state.market
        self.daily_bars = daily_bars

    def valuation(self, account: AccountAggregate, symbol: str) -> Valuation:
        """Value the account's positions at the mirrored last prices."""
        gross = net = symbol_value = 0.0
        prices = self.market.prices
        for held, qty in account.quantities.items():
            mark = prices.get(held)
            if mark is None:
                continue
            value = qty * mark.price
            gross += abs(value)
            net += value
            if held == symbol:
                symbol_value = value
        equity = float(account.cash) + net
        return Valuation(equity, gross, net, symbol_value, account.qty(symbol))

    def incremental_var(
        self, account: AccountAggregate, order: OrderRequest, reference: float | None
    ) -> VaRPair:
        """Return the account VaR without and with the order (exact, O(T))."""
        price = order.price or reference
        books = self.state.books
        book = books.book(account, order.ts)
        if price is None or isinstance(book, InsufficientHistory):
            return VaRPair(None, None)
        delta = (order.qty if order.side == BUY else -order.qty) * price
        window = None if order.symbol in book.symbols else books.window(order.symbol)
        result = book.incremental(order.symbol, delta, window)
        if isinstance(result, IncrementalVaR):
            return VaRPair(result.var_before, result.var_after)
        return VaRPair(book.var(), None)

    def context(
        self,
        account: AccountAggregate,
        order: OrderRequest,
        duplicate: bool,
        reserved_by_replaced: float = 0.0,
    ) -> OrderContext:
        """Return the checks' view of ``order`` and its account right now."""
        mark = self.market.price(order.symbol)
        reference = None if mark is None else mark.price
        value = self.valuation(account, order.symbol)
        var = self.incremental_var(account, order, reference)
        window = self.market.window(order.symbol) if self.daily_bars else None
        record = account.record
        day_start = record.day_start_equity
        flow = account.flow
        limits = self.state.config.limits_for(account.name)
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
            cash=float(record.cash),
            reserved_buying_power=float(account.reserved) - reserved_by_replaced,
            gross_exposure=value.gross,
            net_exposure=value.net,
            symbol_exposure=value.symbol_exposure,
            daily_pnl=0.0 if day_start is None else value.equity - day_start,
            drawdown=valuation.drawdown(value.equity, record.equity_high) or 0.0,
            trading_state=stricter(record.trading_state, self.state.config.firm_trading_state()),
            active_order_count=len(account.live),
            recent_order_count=flow.orders.count(order.ts, limits.order_rate_window_ms),
            recent_cancel_count=flow.cancels.count(order.ts, limits.cancel_rate_window_ms),
            is_duplicate=duplicate,
            var_before=var.before,
            var_after=var.after,
            previous_close=None if window is None else window.last_close,
        )

    def evaluate(
        self,
        account: AccountAggregate,
        order: OrderRequest,
        duplicate: bool,
        reserved_by_replaced: float = 0.0,
    ) -> Verdict:
        """Run every check on ``order`` against the account as it stands now."""
        limits: Limits = self.state.config.limits_for(account.name)
        ctx = self.context(account, order, duplicate, reserved_by_replaced)
        failed = failures(ctx, limits)
        return Verdict(reasons_of(failed), ctx.var_before, ctx.var_after, ctx.reference_price)


def reasons_of(failed: list[CheckResult]) -> tuple[Reason, ...]:
    """Return a Reason for every failed check."""
    return tuple(Reason(r.check, r.message, r.value, r.limit) for r in failed)
