"""Gather what the pre-trade checks need about one order, from memory only.

Everything comes from the account aggregate, the market mirrors (prices, the instrument
master, FX rates) and the live configuration, so building a context costs O(positions
held) and awaits nothing.

Money is in the account's base currency: positions in other currencies and foreign cash
are converted at the rates of the moment; a holding whose rate is missing is left out of
the totals (the order's own missing rate is the ``fx_rate`` rejection). An account that
holds only its base currency pays nothing for this (``foreign_holdings`` is cached).
"""

from __future__ import annotations

from dataclasses import dataclass

from redfire.risk import valuation
from redfire.risk.checks import CheckResult, OrderContext, failures
from redfire.risk.fx import Conversion, MissingRate
from redfire.risk.instruments import Instrument
from redfire.risk.limits import Limits
from redfire.risk.market_rules import RestingOrder
from redfire.risk.measures import IncrementalVaR, InsufficientHistory
from redfire.risk.settlement import Sellable, sellable
from redfire.risk.vocabulary import BUY, REPLACE, SELL, stricter
from redfire.schemas.records import OrderRequest, Reason
from redfire.state.account import AccountAggregate
from redfire.state.worker import WorkerState


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account marked at the last prices and rates, and one symbol's share of it."""

    equity: float
    cash: float
    gross: float
    net: float
    symbol_exposure: float | None
    symbol_qty: float


@dataclass(frozen=True, slots=True)
class VaRPair:
    before: float | None
    after: float | None


@dataclass(slots=True)
class Verdict:
    """The outcome of every check on one order: failed reasons, its VaR, what to note.

    ``fx_rate`` converts the instrument's currency into the base currency (None: no rate).
    """

    reasons: tuple[Reason, ...]
    var_before: float | None
    var_after: float | None
    reference_price: float | None
    notes: tuple[str, ...] = ()
    fx_rate: float | None = 1.0


class PreTrade:
    """Run every pre-trade check on an order against its account as it stands."""

    def __init__(self, state: WorkerState, daily_bars: bool) -> None:
        self.state = state
        self.market = state.market
        self.instruments = state.market.instruments
        self.daily_bars = daily_bars
        self._groups: dict[str, tuple[str, ...]] = {}
        self._groups_key: tuple[int, int] = (-1, -1)

    # -------------------------------------------------------------- valuation

    def foreign_holdings(self, account: AccountAggregate) -> dict[str, str]:
        """Return symbol → currency of the holdings not priced in the account's base currency."""
        generation = self.market.reference_generation
        cached = account.foreign
        if cached is not None and cached[0] == generation:
            return cached[1]
        currency_of, base = self.market.currency_of, account.base
        currencies = ((s, currency_of(s)) for s in account.quantities)
        foreign = {symbol: currency for symbol, currency in currencies if currency != base}
        account.foreign = (generation, foreign)
        return foreign

    def valuation(
        self, account: AccountAggregate, symbol: str, fx: Conversion | MissingRate
    ) -> Valuation:
        """Value the account's cash and positions in its base currency at the last prices."""
        cached = account.foreign
        if cached is not None and cached[0] == self.market.reference_generation:
            foreign = cached[1]
        else:
            foreign = self.foreign_holdings(account)
        if foreign or account.record.balances:
            return self._mixed_valuation(account, symbol, fx, foreign)
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
        cash = float(account.cash)
        symbol_exposure = symbol_value if type(fx) is Conversion else None
        return Valuation(cash + net, cash, gross, net, symbol_exposure, account.qty(symbol))

    def _mixed_valuation(
        self,
        account: AccountAggregate,
        symbol: str,
        fx: Conversion | MissingRate,
        foreign: dict[str, str],
    ) -> Valuation:
        """Value an account with foreign holdings or cash; unconvertible ones are left out."""
        market, base = self.market, account.base
        prices = market.prices
        rates: dict[str, float | None] = {}
        gross = net = symbol_value = 0.0
        for held, qty in account.quantities.items():
            mark = prices.get(held)
            if mark is None:
                continue
            value = qty * mark.price
            currency = foreign.get(held)
            if currency is not None:
                if currency not in rates:
                    rates[currency] = market.rate(currency, base)
                rate = rates[currency]
                if rate is None:
                    continue
                value *= rate
            gross += abs(value)
            net += value
            if held == symbol:
                symbol_value = value
        cash = float(account.cash)
        for currency, amount in account.balances.items():
            rate = market.rate(currency, base)
            if rate is not None:
                cash += float(amount) * rate
        symbol_exposure = symbol_value if type(fx) is Conversion else None
        return Valuation(cash + net, cash, gross, net, symbol_exposure, account.qty(symbol))

    # -------------------------------------------------------------------- VaR

    def incremental_var(
        self,
        account: AccountAggregate,
        order: OrderRequest,
        reference: float | None,
        fx: Conversion | MissingRate,
    ) -> VaRPair:
        """Return the account VaR without and with the order (exact, O(T)), base currency."""
        price = order.price or reference
        if price is None or type(fx) is not Conversion:
            return VaRPair(None, None)
        books = self.state.books
        cached = books.cached(account, order.ts)
        book = cached.book
        if isinstance(book, InsufficientHistory):
            return VaRPair(None, None)
        delta = (order.qty if order.side == BUY else -order.qty) * price * fx.rate
        symbol = order.symbol
        if not fx.legs:  # the identity: the instrument is priced in the base currency
            window = None if symbol in book.symbols else books.window(symbol)
        else:
            symbol, window = books.order_column(cached, symbol, fx)
            if window is None:
                return VaRPair(book.var(), None)
        result = book.incremental(symbol, delta, window)
        if isinstance(result, IncrementalVaR):
            return VaRPair(result.var_before, result.var_after)
        return VaRPair(book.var(), None)

    # ------------------------------------------------------- market rules

    def sellable(
        self, account: AccountAggregate, order: OrderRequest, instrument: Instrument
    ) -> Sellable:
        """Return what a SELL of a T+1 instrument may sell today (held at the day's start
        − sold today − open sells)."""
        day = self.market.trading_day(instrument, order.ts)
        entry = account.positions.get(order.symbol)
        held = 0.0 if entry is None else float(entry.position.qty)
        state = None if entry is None else entry.day
        excluded = order.order_id if order.action == REPLACE else None
        open_sells = account.open_qty(order.symbol, SELL, excluded)
        return sellable(state, day, held, open_sells)

    def resting_orders(
        self, account: AccountAggregate, order: OrderRequest, limits: Limits
    ) -> tuple[RestingOrder, ...]:
        """Return the live opposite orders of the account (and its group) in the symbol."""
        if not limits.check_self_trade:
            return ()
        resting = account.resting_orders(order.symbol, order.side, order.order_id)
        group = limits.self_trade_group
        if group is None:
            return resting
        for name in self.group_members(group):
            other = self.state.known_account(name)
            if other is not None and other is not account:
                resting += other.resting_orders(order.symbol, order.side, order.order_id)
        return resting

    def group_members(self, group: str) -> tuple[str, ...]:
        """Return the accounts held by this worker whose self-trade group is ``group``."""
        state = self.state
        key = (state.config.limit_overrides.generation, len(state.accounts))
        if key != self._groups_key:
            self._groups, self._groups_key = {}, key
        members = self._groups.get(group)
        if members is None:
            limits_for = state.config.limits_for
            members = tuple(
                name for name in state.accounts if limits_for(name).self_trade_group == group
            )
            self._groups[group] = members
        return members

    # ----------------------------------------------------------------- checks

    def context(
        self,
        account: AccountAggregate,
        order: OrderRequest,
        duplicate: bool,
        reserved_by_replaced: float = 0.0,
        limits: Limits | None = None,
    ) -> OrderContext:
        """Return the checks' view of ``order`` and its account right now."""
        market, symbol = self.market, order.symbol
        limits = limits or self.state.config.limits_for(account.name)
        mark = market.prices.get(symbol)
        reference = None if mark is None else mark.price
        resolution = self.instruments.resolve(symbol)
        instrument = resolution.instrument
        fx = market.convert(instrument.currency, account.base)
        value = self.valuation(account, symbol, fx)
        var = self.incremental_var(account, order, reference, fx)
        previous_close = instrument.previous_close
        if previous_close is None and self.daily_bars:
            window = market.windows.get(symbol)
            previous_close = None if window is None else window.last_close
        # Most orders sell no T+1 shares and have no live order to cross: no calls then.
        sellable = None
        if instrument.t_plus_one and order.side == SELL:
            sellable = self.sellable(account, order, instrument)
        resting: tuple[RestingOrder, ...] = ()
        if limits.check_self_trade and (
            symbol in account.live_by_symbol or limits.self_trade_group is not None
        ):
            resting = self.resting_orders(account, order, limits)
        record = account.record
        day_start = record.day_start_equity
        flow = account.flow
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
            market=instrument.market,
            action=order.action,
            position_qty=value.symbol_qty,
            equity=value.equity,
            cash=value.cash,
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
            previous_close=previous_close,
            instrument=instrument,
            instrument_known=resolution.known,
            fx=fx,
            sellable=sellable,
            resting_orders=resting,
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
        ctx = self.context(account, order, duplicate, reserved_by_replaced, limits)
        failed = failures(ctx, limits)
        notes = () if ctx.instrument_known else self.market.notes_of(order.symbol)
        return Verdict(
            reasons_of(failed),
            ctx.var_before,
            ctx.var_after,
            ctx.reference_price,
            notes,
            ctx.fx_rate,
        )


def reasons_of(failed: list[CheckResult]) -> tuple[Reason, ...]:
    """Return a Reason for every failed check."""
    return tuple(Reason(r.check, r.message, r.value, r.limit) for r in failed)
