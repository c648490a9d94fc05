"""Build an account's RiskSnapshot and the metric values its rules read.

Runs in stream context on the account's partition (the monitor's clock), so it
may update the account's equity marks and its live VaR backtest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redfire.agents.pretrade import flow
from redfire.app import settings
from redfire.risk.backtest import traffic_light
from redfire.risk.incremental import RiskBook
from redfire.risk.measures import InsufficientHistory
from redfire.schemas.records import RiskSnapshot, SnapshotPosition
from redfire.tables import definitions as tables
from redfire.tables import mirrors, store
from redfire.tables.books import books
from redfire.tables.portfolio import AccountView, account_view

BACKTEST_BARS = 250
BACKTEST_CONFIDENCE = 0.99
NO_EQUITY_LEVERAGE = 1e12
LIGHT_LEVEL = {"GREEN": 0.0, "YELLOW": 1.0, "RED": 2.0}


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


def leverage(gross: float, equity: float) -> float:
    """Return gross exposure / equity; a huge number when exposure has no equity behind it."""
    if gross == 0:
        return 0.0
    return gross / equity if equity > 0 else NO_EQUITY_LEVERAGE


def concentration(view: AccountView) -> float:
    """Return the largest position's share of gross exposure."""
    gross = float(view.gross_exposure)
    if gross == 0:
        return 0.0
    return max(abs(float(h.market_value)) for h in view.holdings) / gross


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


def mark_equity(account: str, equity: float, now_ms: int) -> tuple[float, float]:
    """Update the account's high-water mark and day start; return (daily P&L, drawdown)."""
    state = store.get_account(account)
    marked = state.with_equity_mark(equity, now_ms)
    if marked != state:
        store.put_account(marked)
    high = marked.equity_high or equity
    drawdown = 0.0 if high <= 0 else max(0.0, (high - equity) / high)
    return equity - (marked.day_start_equity or equity), drawdown


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


def build_snapshot(account: str, now_ms: int) -> RiskSnapshot:
    """Compute the account's snapshot now, updating its marks and backtest."""
    view = account_view(account)
    equity = float(view.equity)
    gross = float(view.gross_exposure)
    daily_pnl, drawdown = mark_equity(account, equity, now_ms)
    var = var_figures(books.book(account, now_ms))
    backtest = update_backtest(account, view, var.var_99)
    return RiskSnapshot(
        account=account,
        ts=now_ms,
        equity=equity,
        cash=float(view.cash),
        gross_exposure=gross,
        net_exposure=float(view.net_exposure),
        leverage=leverage(gross, equity),
        realized_pnl=float(view.realized_pnl),
        unrealized_pnl=float(view.unrealized_pnl),
        daily_pnl=daily_pnl,
        drawdown=drawdown,
        var_method=settings.var_method.value,
        concentration=concentration(view),
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


def rule_metrics(snapshot: RiskSnapshot, stress_loss: float | None) -> dict[str, float]:
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
    values["orders_per_s"] = flow.orders_per_s(snapshot.account)
    return values
