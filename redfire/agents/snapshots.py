"""Build an account's RiskSnapshot and the metric values its rules read.

Runs in stream context on the account's partition (the monitor's clock), so it
may update the account's equity marks and its live VaR backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from redfire.agents.pretrade import flow
from redfire.app import settings
from redfire.risk import valuation
from redfire.risk.backtest import traffic_light
from redfire.risk.incremental import RiskBook
from redfire.risk.measures import InsufficientHistory
from redfire.risk.rule_metrics import MetricInputs, metric_values
from redfire.schemas.records import RiskSnapshot, SnapshotPosition
from redfire.tables import definitions as tables
from redfire.tables import mirrors, store
from redfire.tables.books import books
from redfire.tables.portfolio import AccountView, account_view

BACKTEST_BARS = 250
BACKTEST_CONFIDENCE = 0.99


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


def var_figures(book: RiskBook | InsufficientHistory) -> VaRFigures:
    """Return VaR 95/99 and ES 97.5 of the account's book, or none without history."""
    if isinstance(book, InsufficientHistory):
        return VaRFigures()
    return VaRFigures(book.result(0.95).var, book.result(0.99).var, book.result(0.975).es)


leverage = valuation.leverage


def largest_exposure(view: AccountView) -> float:
    """Return the largest |market value| among the account's positions."""
    return valuation.largest_exposure(float(h.market_value) for h in view.holdings)


def bar_marker(symbols: set[str]) -> int:
    """Return the latest closed-bar start among ``symbols`` (the backtest clock)."""
    marks = [mirrors.windows.get(s) for s in symbols]
    return max((m.last_bar_start for m in marks if m is not None), default=-1)


def realised_pnl(exposures: dict[str, float]) -> float:
    """Return the P&L of the stored exposures over each symbol's newest bar return."""
    total = 0.0
    for symbol, value in exposures.items():
        mark = mirrors.windows.get(symbol)
        if mark is not None and len(mark.returns):
            total += value * float(mark.returns[-1])
    return total


def update_backtest(account: str, view: AccountView, var_99: float | None) -> Backtest:
    """Score yesterday's VaR against the bar that just closed, once per new bar."""
    stored: dict[str, Any] = tables.var_backtests.get(account) or {"flags": []}
    exposures = view.exposures()
    marker = bar_marker(set(exposures) | set(stored.get("exposures", {})))
    flags: list[int] = list(stored["flags"])
    if marker > stored.get("bar", -1):
        if stored.get("var") is not None and stored.get("exposures"):
            pnl = realised_pnl(stored["exposures"])
            flags = [*flags, int(pnl < -stored["var"])][-BACKTEST_BARS:]
        tables.var_backtests[account] = {
            "bar": marker,
            "var": var_99,
            "exposures": exposures,
            "flags": flags,
        }
    if not flags:
        return Backtest(None, 0, None)
    zone = traffic_light(sum(flags), len(flags), BACKTEST_CONFIDENCE)
    return Backtest(sum(flags), len(flags), zone.value)


def mark_equity(account: str, equity: float, now_ms: int) -> tuple[float | None, float | None]:
    """Update the account's high-water mark and day start; return (daily P&L, drawdown).

    Either is None without evidence (see ``redfire.risk.valuation``): the high-water mark
    starts when the account is funded (SET_CASH, or a positive REDFIRE_DEFAULT_CASH).
    """
    state = store.get_account(account)
    marks = valuation.mark_equity(
        valuation.EquityMarks(state.equity_high, state.day_start_equity, state.day),
        equity,
        now_ms,
        may_start=settings.default_cash > 0,
    )
    marked = replace(
        state, equity_high=marks.high_water, day_start_equity=marks.day_start, day=marks.day
    )
    if marked != state:
        store.put_account(marked)
    return valuation.daily_pnl(equity, marks), valuation.drawdown(equity, marks.high_water)


def snapshot_positions(view: AccountView) -> tuple[SnapshotPosition, ...]:
    return tuple(
        SnapshotPosition(
            h.symbol,
            float(h.position.qty),
            float(h.position.avg_cost),
            float(h.position.realized_pnl),
            float(h.market_value),
        )
        for h in view.holdings
        if not h.position.is_flat
    )


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """One account's snapshot and the figures its rules read (None = no evidence)."""

    snapshot: RiskSnapshot
    inputs: MetricInputs


def build_snapshot(account: str, now_ms: int) -> AccountFigures:
    """Compute the account's snapshot now, updating its marks and backtest."""
    view = account_view(account)
    equity = float(view.equity)
    gross = float(view.gross_exposure)
    largest = largest_exposure(view)
    daily_pnl, drawdown = mark_equity(account, equity, now_ms)
    var = var_figures(books.book(account, now_ms))
    backtest = update_backtest(account, view, var.var_99)
    snapshot = RiskSnapshot(
        account=account,
        ts=now_ms,
        equity=equity,
        cash=float(view.cash),
        gross_exposure=gross,
        net_exposure=float(view.net_exposure),
        leverage=leverage(gross, equity),
        realized_pnl=float(view.realized_pnl),
        unrealized_pnl=float(view.unrealized_pnl),
        daily_pnl=daily_pnl or 0.0,
        drawdown=drawdown or 0.0,
        var_method=settings.var_method.value,
        concentration=valuation.concentration(largest, gross),
        trading_state=store.effective_trading_state(view.state),
        var_95=var.var_95,
        var_99=var.var_99,
        es_975=var.es_975,
        positions=snapshot_positions(view),
        var_exceptions=backtest.exceptions,
        backtest_bars=backtest.bars,
        traffic_light=backtest.light,
        reject_ratio=flow.reject_ratio(account),
    )
    inputs = replace(
        snapshot_inputs(snapshot),
        daily_pnl=daily_pnl,
        drawdown=drawdown,
        largest_exposure=largest,
        live_orders=store.live_orders.count(account),
        orders_per_s=flow.orders_per_s(account),
    )
    return AccountFigures(snapshot, inputs)


def snapshot_inputs(snapshot: RiskSnapshot) -> MetricInputs:
    """Return the rule-metric inputs a snapshot carries (its positions give the largest)."""
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
        var_95=snapshot.var_95,
        var_99=snapshot.var_99,
        es_975=snapshot.es_975,
        var_exceptions=snapshot.var_exceptions,
        backtest_bars=snapshot.backtest_bars,
        traffic_light=snapshot.traffic_light,
        reject_ratio=snapshot.reject_ratio,
    )


def rule_metrics(inputs: MetricInputs, stress_loss: float | None) -> dict[str, float]:
    """Return every catalogue metric with evidence, for one account or the firm."""
    return metric_values(replace(inputs, stress_loss=stress_loss))
