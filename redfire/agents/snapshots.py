"""Build an account's RiskSnapshot and the metric values its rules read.

Runs on the worker that owns the account, so it may move the account's equity
marks (high-water mark, start-of-day equity) and score its live VaR backtest.

Every amount is in the account's base currency, converted at the rates of the
moment: market values, cash in every currency, P&L (a position's average cost
and prices stay in the instrument's currency). A holding without a price or an
FX rate is left out of the amounts and listed in ``unvalued``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redfire.risk.backtest import traffic_light
from redfire.risk.fx import Conversion, conversion_returns
from redfire.risk.fx_portfolio import CASH_PREFIX, cash_key
from redfire.risk.incremental import RiskBook
from redfire.risk.measures import InsufficientHistory
from redfire.risk.vocabulary import stricter
from redfire.schemas.records import RiskSnapshot, SnapshotPosition
from redfire.state.account import AccountAggregate
from redfire.state.worker import WorkerState

BACKTEST_BARS = 250
BACKTEST_CONFIDENCE = 0.99
NO_EQUITY_LEVERAGE = 1e12
LIGHT_LEVEL = {"GREEN": 0.0, "YELLOW": 1.0, "RED": 2.0}
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class VaRFigures:
    var_95: float | None = None
    var_99: float | None = None
    es_975: float | None = None


@dataclass(frozen=True, slots=True)
class Backtest:
    exceptions: int | None
    bars: int
    light: str | None


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
    """A snapshot and what building it changed (for the caller to stage)."""

    snapshot: RiskSnapshot
    marks_changed: bool
    backtest_changed: bool


def var_figures(book: RiskBook | InsufficientHistory) -> VaRFigures:
    """Return VaR 95/99 and ES 97.5 of the account's book, or none without history."""
    if isinstance(book, InsufficientHistory):
        return VaRFigures()
    return VaRFigures(book.result(0.95).var, book.result(0.99).var, book.result(0.975).es)


def leverage(gross: float, equity: float) -> float:
    """Return gross exposure / equity; a huge number when exposure has no equity behind it."""
    if gross == 0:
        return 0.0
    return gross / equity if equity > 0 else NO_EQUITY_LEVERAGE


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


def unvalued(held: list[Holding], cash: CashValue) -> tuple[str, ...]:
    """Return the holdings left out of the amounts (no price or no rate)."""
    return tuple(h.symbol for h in held if h.qty != 0 and not h.valued) + cash.unvalued


class SnapshotBuilder:
    """Value an account, move its marks and backtest, and produce its snapshot."""

    def __init__(self, state: WorkerState, var_method: str) -> None:
        self.state = state
        self.var_method = var_method

    def build(self, account: AccountAggregate, now_ms: int) -> SnapshotOutcome:
        held = holdings(self.state, account)
        net = sum(h.market_value for h in held)
        gross = sum(abs(h.market_value) for h in held)
        cash_now = cash_value(self.state, account)
        cash = cash_now.total
        equity = cash + net
        marks_changed = self.mark_equity(account, equity, now_ms)
        record = account.record
        high = record.equity_high if record.equity_high is not None else equity
        drawdown = 0.0 if high <= 0 else max(0.0, (high - equity) / high)
        day_start = record.day_start_equity
        daily = equity - (day_start if day_start is not None else equity)
        var = var_figures(self.state.books.book(account, now_ms))
        backtest, backtest_changed = self.update_backtest(account, held, var.var_99)
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
            leverage=leverage(gross, equity),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            daily_pnl=daily,
            drawdown=drawdown,
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
            var_exceptions=backtest.exceptions,
            backtest_bars=backtest.bars,
            traffic_light=backtest.light,
            reject_ratio=account.flow.reject_ratio(),
            base_currency=account.base,
            unvalued=unvalued(held, cash_now),
        )
        return SnapshotOutcome(snapshot, marks_changed, backtest_changed)

    @staticmethod
    def mark_equity(account: AccountAggregate, equity: float, now_ms: int) -> bool:
        """Move the high-water mark and start-of-day equity; return True if they changed."""
        record = account.record
        day = now_ms // DAY_MS
        day_start = record.day_start_equity if record.day == day else equity
        high = equity if record.equity_high is None else max(record.equity_high, equity)
        if (high, day_start, day) == (record.equity_high, record.day_start_equity, record.day):
            return False
        record.equity_high, record.day_start_equity, record.day = high, day_start, day
        return True

    def update_backtest(
        self, account: AccountAggregate, held: list[Holding], var_99: float | None
    ) -> tuple[Backtest, bool]:
        """Score the last VaR against the bar that just closed, once per new bar."""
        stored: dict[str, Any] = account.backtest or {"flags": []}
        exposures = {h.symbol: h.market_value for h in held if h.qty != 0}
        exposures.update(self.foreign_cash(account))
        marker = self.bar_marker(set(exposures) | set(stored.get("exposures", {})))
        flags: list[int] = list(stored["flags"])
        changed = False
        if marker > stored.get("bar", -1):
            if stored.get("var") is not None and stored.get("exposures"):
                pnl = self.realised_pnl(account, stored["exposures"])
                flags = [*flags, int(pnl < -stored["var"])][-BACKTEST_BARS:]
            account.backtest = {
                "bar": marker,
                "var": var_99,
                "exposures": exposures,
                "flags": flags,
            }
            changed = True
        if not flags:
            return Backtest(None, 0, None), changed
        zone = traffic_light(sum(flags), len(flags), BACKTEST_CONFIDENCE)
        return Backtest(sum(flags), len(flags), zone.value), changed

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

    def realised_pnl(self, account: AccountAggregate, exposures: dict[str, float]) -> float:
        """Return the P&L of the stored exposures over the newest bar, in the base currency.

        A foreign holding earns (1 + asset return)(1 + rate return) − 1; foreign cash earns
        its rate's return; each rate's return is its pairs' newest bar return.
        """
        market = self.state.market
        total = 0.0
        for key, value in exposures.items():
            symbol = None if key.startswith(CASH_PREFIX) else key
            currency = market.currency_of(key) if symbol else key.removeprefix(CASH_PREFIX)
            growth = 1.0
            if symbol is not None:
                mark = market.window(symbol)
                if mark is None or not len(mark.returns):
                    continue
                growth = 1.0 + float(mark.returns[-1])
            fx = last_fx_return(self.state, currency, account.base)
            if fx is None:
                continue
            total += value * (growth * (1.0 + fx) - 1.0)
        return total


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


def rule_metrics(
    snapshot: RiskSnapshot, stress_loss: float | None, account: AccountAggregate | None
) -> dict[str, float]:
    """Return every metric a monitoring rule may name, for one snapshot."""
    values: dict[str, float] = {
        name: float(getattr(snapshot, name))
        for name in (
            "equity",
            "cash",
            "gross_exposure",
            "net_exposure",
            "leverage",
            "realized_pnl",
            "unrealized_pnl",
            "daily_pnl",
            "drawdown",
            "concentration",
            "reject_ratio",
            "backtest_bars",
        )
    }
    for name in ("var_95", "var_99", "es_975", "var_exceptions"):
        value = getattr(snapshot, name)
        if value is not None:
            values[name] = float(value)
    if snapshot.var_95 is not None and snapshot.equity > 0:
        values["var_equity_ratio"] = snapshot.var_95 / snapshot.equity
    if snapshot.traffic_light is not None:
        values["traffic_light"] = LIGHT_LEVEL[snapshot.traffic_light]
    if stress_loss is not None:
        values["stress_loss"] = stress_loss
    if account is not None:
        values["orders_per_s"] = account.flow.orders_per_s()
    return values
