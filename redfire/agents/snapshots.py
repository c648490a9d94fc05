"""Build an account's RiskSnapshot and the metric values its rules read.

Runs on the worker that owns the account, so it may move the account's equity
marks (high-water mark, start-of-day equity) and score its live VaR backtest.

Every amount is in the account's base currency, converted at the rates of the
moment: market values, cash in every currency, P&L (a position's average cost
and prices stay in the instrument's currency). A holding without a price or an
FX rate is left out of the amounts and listed in ``unvalued``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from redfire.risk import valuation
from redfire.risk.backtest import TrafficLight
from redfire.risk.fx import Conversion, conversion_returns
from redfire.risk.fx_portfolio import CASH_PREFIX, cash_key
from redfire.risk.incremental import RiskBook
from redfire.risk.live_backtest import BarForecast, LiveBacktest, LiveBacktestSummary
from redfire.risk.measures import InsufficientHistory
from redfire.risk.rule_metrics import MetricInputs, metric_values
from redfire.risk.valuation import EquityMarks
from redfire.risk.vocabulary import stricter
from redfire.schemas.records import RiskSnapshot, SnapshotComponent, SnapshotPosition
from redfire.state.account import AccountAggregate
from redfire.state.worker import WorkerState

# Component VaR is the Euler allocation of VaR(99%): the components sum to var_99.
COMPONENT_CONFIDENCE = 0.99


@dataclass(frozen=True, slots=True)
class VaRFigures:
    var_95: float | None = None
    var_99: float | None = None
    var_975: float | None = None
    es_975: float | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """One position: prices in the instrument's ``currency``, amounts in the base currency.

    ``fx_rate`` converts ``currency`` into the base currency (None: no rate); a holding
    without a price or a rate has ``market_value`` and ``realized_pnl`` 0 and is not
    ``valued``.
    """

    symbol: str
    qty: float
    avg_cost: float
    realized_pnl: float
    market_value: float
    price: float | None
    currency: str = ""
    fx_rate: float | None = 1.0

    @property
    def valued(self) -> bool:
        """Tell whether the holding has a price and a rate (its amounts count)."""
        return self.price is not None and self.fx_rate is not None

    @property
    def unrealized_pnl(self) -> float:
        """Return market value − cost, in the base currency (0 when not valued)."""
        if not self.valued or self.qty == 0:
            return 0.0
        return self.market_value - self.qty * self.avg_cost * (self.fx_rate or 0.0)


@dataclass(frozen=True, slots=True)
class CashValue:
    """The account's cash in its base currency, and the balances without a rate."""

    total: float
    unvalued: tuple[str, ...]


@dataclass(slots=True)
class SnapshotOutcome:
    """A snapshot, its rule metrics, and what building it changed (for the caller to stage)."""

    snapshot: RiskSnapshot
    metrics: MetricInputs
    marks_changed: bool
    backtest_changed: bool


def var_figures(book: RiskBook | InsufficientHistory) -> VaRFigures:
    """Return VaR 95/99 and ES 97.5 of the account's book, or none without history."""
    if isinstance(book, InsufficientHistory):
        return VaRFigures()
    at_975 = book.result(0.975)
    return VaRFigures(book.result(0.95).var, book.result(0.99).var, at_975.var, at_975.es)


def top_components(
    book: RiskBook | InsufficientHistory, count: int
) -> tuple[SnapshotComponent, ...]:
    """Return the ``count`` largest Euler components of VaR(99%) by size, largest first."""
    if count <= 0 or isinstance(book, InsufficientHistory):
        return ()
    allocation = book.components(COMPONENT_CONFIDENCE)
    pairs = sorted(
        zip(allocation.symbols, allocation.component.tolist(), strict=True),
        key=lambda pair: (-abs(pair[1]), pair[0]),
    )
    return tuple(SnapshotComponent(symbol, value) for symbol, value in pairs[:count])


def holdings(state: WorkerState, account: AccountAggregate) -> list[Holding]:
    """Return every position the account has held, valued in its base currency now."""
    market = state.market
    result = []
    for symbol in sorted(account.positions):
        position = account.positions[symbol].position
        price = market.last_price(symbol)
        currency = market.currency_of(symbol)
        rate = market.rate(currency, account.base)
        qty = float(position.qty)
        value = qty * price * rate if price is not None and rate is not None else 0.0
        realized = float(position.realized_pnl) * rate if rate is not None else 0.0
        result.append(
            Holding(symbol, qty, float(position.avg_cost), realized, value, price, currency, rate)
        )
    return result


def cash_value(state: WorkerState, account: AccountAggregate) -> CashValue:
    """Return the account's cash in every currency converted into its base currency."""
    total = float(account.cash)
    unvalued = []
    for currency, amount in sorted(account.balances.items()):
        rate = state.market.rate(currency, account.base)
        if rate is None:
            if amount:
                unvalued.append(cash_key(currency))
            continue
        total += float(amount) * rate
    return CashValue(total, tuple(unvalued))


@dataclass(frozen=True, slots=True)
class AccountValue:
    """An account valued now in its base currency: holdings, cash, exposures, equity."""

    held: list[Holding]
    cash: CashValue
    net: float
    gross: float

    @property
    def equity(self) -> float:
        return self.cash.total + self.net


def value_account(state: WorkerState, account: AccountAggregate) -> AccountValue:
    """Return the account valued at the prices and rates of now (snapshots, routes, marks)."""
    held = holdings(state, account)
    net = sum(h.market_value for h in held)
    gross = sum(abs(h.market_value) for h in held)
    return AccountValue(held, cash_value(state, account), net, gross)


def unvalued(held: list[Holding], cash: CashValue) -> tuple[str, ...]:
    """Return the holdings left out of the amounts (no price or no rate)."""
    return tuple(h.symbol for h in held if h.qty != 0 and not h.valued) + cash.unvalued


class SnapshotBuilder:
    """Value an account, move its marks and backtest, and produce its snapshot."""

    def __init__(
        self,
        state: WorkerState,
        var_method: str,
        marks_start_unfunded: bool,
        components: int = 0,
    ) -> None:
        self.state = state
        self.var_method = var_method
        # With a positive REDFIRE_DEFAULT_CASH an account is funded from the start, so its
        # high-water mark may start before any SET_CASH (risk.valuation.mark_equity).
        self.marks_start_unfunded = marks_start_unfunded
        # How many of the largest component VaRs each snapshot carries.
        self.components = components

    def build(self, account: AccountAggregate, now_ms: int) -> SnapshotOutcome:
        value = value_account(self.state, account)
        held, net, gross, cash_now = value.held, value.net, value.gross, value.cash
        cash, equity = cash_now.total, value.equity
        marks = self.mark_equity(account, equity, now_ms)
        marks_changed = marks != EquityMarks(*self.marks_of(account))
        record = account.record
        record.equity_high, record.day_start_equity, record.day = (
            marks.high_water,
            marks.day_start,
            marks.day,
        )
        drawdown = valuation.drawdown(equity, marks.high_water)
        daily = valuation.daily_pnl(equity, marks)
        book = self.state.books.book(account, now_ms)
        var = var_figures(book)
        backtest, backtest_changed = self.update_backtest(account, held, var)
        open_positions = [h for h in held if h.qty != 0]
        realized = sum(h.realized_pnl for h in held)
        unrealized = sum(h.unrealized_pnl for h in open_positions)
        snapshot = RiskSnapshot(
            account=account.name,
            ts=now_ms,
            equity=equity,
            cash=cash,
            gross_exposure=gross,
            net_exposure=net,
            leverage=valuation.leverage(gross, equity),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            daily_pnl=0.0 if daily is None else daily,
            drawdown=0.0 if drawdown is None else drawdown,
            var_method=self.var_method,
            concentration=0.0 if gross == 0 else max(abs(h.market_value) for h in held) / gross,
            trading_state=stricter(record.trading_state, self.state.config.firm_trading_state()),
            var_95=var.var_95,
            var_99=var.var_99,
            es_975=var.es_975,
            positions=tuple(
                SnapshotPosition(h.symbol, h.qty, h.avg_cost, h.realized_pnl, h.market_value)
                for h in open_positions
            ),
            var_exceptions=backtest.var_exceptions if backtest.bars else None,
            backtest_bars=backtest.bars,
            traffic_light=light_name(backtest.traffic_light),
            reject_ratio=account.flow.reject_ratio(),
            es_backtest_z2=backtest.es_backtest_z2,
            es_backtest_bars=backtest.es_bars,
            es_traffic_light=light_name(backtest.es_traffic_light),
            components=top_components(book, self.components),
            base_currency=account.base,
            unvalued=unvalued(held, cash_now),
        )
        metrics = MetricInputs(
            equity=equity,
            cash=cash,
            gross_exposure=gross,
            net_exposure=net,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            largest_exposure=valuation.largest_exposure(h.market_value for h in held),
            open_positions=len(open_positions),
            daily_pnl=daily,
            drawdown=drawdown,
            live_orders=len(account.live),
            var_95=var.var_95,
            var_99=var.var_99,
            es_975=var.es_975,
            var_exceptions=snapshot.var_exceptions,
            backtest_bars=backtest.bars,
            traffic_light=snapshot.traffic_light,
            es_backtest_z2=snapshot.es_backtest_z2,
            es_traffic_light=snapshot.es_traffic_light,
            reject_ratio=snapshot.reject_ratio,
            orders_per_s=account.flow.orders_per_s(),
        )
        return SnapshotOutcome(snapshot, metrics, marks_changed, backtest_changed)

    @staticmethod
    def marks_of(account: AccountAggregate) -> tuple[float | None, float | None, int | None]:
        record = account.record
        return record.equity_high, record.day_start_equity, record.day

    def mark_equity(self, account: AccountAggregate, equity: float, now_ms: int) -> EquityMarks:
        """Return the account's equity marks after seeing ``equity`` now."""
        marks = EquityMarks(*self.marks_of(account))
        return valuation.mark_equity(marks, equity, now_ms, self.marks_start_unfunded)

    def update_backtest(
        self, account: AccountAggregate, held: list[Holding], var: VaRFigures
    ) -> tuple[LiveBacktestSummary, bool]:
        """Score the held forecast against the bar that just closed, once per new bar.

        The forecast made now (VaR 99%, VaR and ES 97.5% of the current book) is
        held until the next bar closes (``redfire.risk.live_backtest``).
        """
        live = account.backtest
        if live is None:
            live = account.backtest = LiveBacktest()
        exposures = {h.symbol: h.market_value for h in held if h.qty != 0}
        exposures.update(self.foreign_cash(account))
        previous = live.held.exposures if live.held is not None else {}
        keys = set(exposures) | set(previous)
        marker = self.bar_marker(keys)
        changed = False
        if marker > (live.last_bar if live.last_bar is not None else -1):
            forecast = None
            if var.var_99 is not None and var.var_975 is not None and var.es_975 is not None:
                forecast = BarForecast(var.var_99, var.var_975, var.es_975, exposures)
            changed = live.on_bar(marker, self.newest_returns(account, keys), forecast)
        return live.summary(), changed

    def newest_returns(self, account: AccountAggregate, keys: set[str]) -> dict[str, float]:
        """Return each exposure's return over its newest closed bar, in the base currency.

        A foreign holding earns (1 + asset return)(1 + rate return) − 1; foreign cash
        (``cash_key``) earns its rate's return; each rate's return is its pairs' newest bar
        return. An exposure without those returns is left out (it counts as 0).
        """
        market = self.state.market
        found = {}
        for key in keys:
            symbol = None if key.startswith(CASH_PREFIX) else key
            currency = market.currency_of(key) if symbol else key.removeprefix(CASH_PREFIX)
            growth = 1.0
            if symbol is not None:
                mark = market.window(symbol)
                if mark is None or not len(mark.returns):
                    continue
                growth = 1.0 + float(mark.returns[-1])
            fx = last_fx_return(self.state, currency, account.base)
            if fx is not None:
                found[key] = growth * (1.0 + fx) - 1.0
        return found

    def bar_marker(self, symbols: set[str]) -> int:
        """Return the latest closed-bar start among ``symbols`` (the backtest clock)."""
        marks = [self.state.market.window(s) for s in symbols]
        return max((m.last_bar_start for m in marks if m is not None), default=-1)

    def foreign_cash(self, account: AccountAggregate) -> dict[str, float]:
        """Return cash_key(currency) → base value of each foreign balance with a rate."""
        market = self.state.market
        values = {}
        for currency, amount in account.balances.items():
            rate = market.rate(currency, account.base)
            if rate is not None and amount:
                values[cash_key(currency)] = float(amount) * rate
        return values


def light_name(zone: TrafficLight | None) -> str | None:
    return None if zone is None else zone.value


def last_fx_return(state: WorkerState, currency: str, base: str) -> float | None:
    """Return the newest bar return of the rate currency → base (0 for the base itself)."""
    conversion = state.market.convert(currency, base)
    if type(conversion) is not Conversion:
        return None
    last = {}
    for pair in conversion.symbols():
        mark = state.market.window(pair)
        if mark is None or not len(mark.returns):
            return None
        last[pair] = mark.returns[-1:]
    returns = conversion_returns(conversion, last)
    if returns is None:
        return 0.0
    return None if isinstance(returns, tuple) else float(returns[-1])


def snapshot_metrics(
    snapshot: RiskSnapshot, live_orders: int | None = None, orders_per_s: float | None = None
) -> MetricInputs:
    """Return the rule-metric inputs a published snapshot carries (FIRM: no order counts)."""
    return MetricInputs(
        equity=snapshot.equity,
        cash=snapshot.cash,
        gross_exposure=snapshot.gross_exposure,
        net_exposure=snapshot.net_exposure,
        realized_pnl=snapshot.realized_pnl,
        unrealized_pnl=snapshot.unrealized_pnl,
        largest_exposure=valuation.largest_exposure(p.market_value for p in snapshot.positions),
        open_positions=len(snapshot.positions),
        daily_pnl=snapshot.daily_pnl,
        drawdown=snapshot.drawdown,
        live_orders=live_orders,
        var_95=snapshot.var_95,
        var_99=snapshot.var_99,
        es_975=snapshot.es_975,
        var_exceptions=snapshot.var_exceptions,
        backtest_bars=snapshot.backtest_bars if snapshot.backtest_bars else None,
        traffic_light=snapshot.traffic_light,
        es_backtest_z2=snapshot.es_backtest_z2,
        es_traffic_light=snapshot.es_traffic_light,
        reject_ratio=snapshot.reject_ratio if live_orders is not None else None,
        orders_per_s=orders_per_s,
    )


def rule_metrics(metrics: MetricInputs, stress_loss: float | None) -> dict[str, float]:
    """Return every metric a monitoring rule may name that has evidence (risk.rule_metrics)."""
    if stress_loss is not None:
        metrics = replace(metrics, stress_loss=stress_loss)
    return metric_values(metrics)
