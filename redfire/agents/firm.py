"""Firm stage: merge every partition's exposures into firm exposure and firm VaR/ES.

All parts are keyed ``FIRM``, so one agent instance (one partition) holds the
latest part of every source partition and publishes the FIRM snapshot, and
FIRM-scope rules are evaluated on it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import numpy as np

from redfire.agents.firm_part import FIRM, SUMMED
from redfire.agents.monitor import evaluate_rules, publish_snapshot
from redfire.agents.snapshots import leverage, rule_metrics, snapshot_inputs
from redfire.app import app, settings
from redfire.risk import valuation
from redfire.risk.firm import merge_exposures
from redfire.risk.measures import InsufficientHistory, VaRConfig
from redfire.risk.portfolio import Portfolio, assemble_portfolio
from redfire.risk.var import compute_var
from redfire.schemas.records import RiskSnapshot, SnapshotPosition
from redfire.streams import topics
from redfire.tables import definitions as tables
from redfire.tables import mirrors
from redfire.tables.accounts import AccountState
from redfire.tables.books import books

log = logging.getLogger(__name__)
MARKS = "_marks"


def firm_var(exposures: dict[str, float]) -> tuple[float | None, float | None, float | None]:
    """Return firm VaR 95, VaR 99 and ES 97.5 of the merged exposures."""
    live = {s: v for s, v in exposures.items() if v != 0.0}
    windows = {}
    for symbol in live:
        mark = mirrors.windows.get(symbol)
        if mark is not None:
            windows[symbol] = mark.returns
    portfolio = assemble_portfolio(live, windows, books.policy)
    if isinstance(portfolio, InsufficientHistory) or not portfolio.symbols:
        return None, None, None
    return (
        _var(portfolio, 0.95).var,
        _var(portfolio, 0.99).var,
        _var(portfolio, 0.975).es,
    )


def _var(portfolio: Portfolio, confidence: float) -> Any:
    config = VaRConfig(method=books.config.method, confidence=confidence)
    return compute_var(portfolio.returns, np.asarray(portfolio.exposures), config)


def firm_snapshot(parts: list[dict[str, Any]], ts: int) -> RiskSnapshot:
    """Return the FIRM snapshot of the latest part of every source partition."""
    exposures = merge_exposures({str(p["partition"]): p["exposures"] for p in parts})
    totals = {name: sum(float(p[name]) for p in parts) for name in SUMMED}
    gross = sum(abs(v) for v in exposures.values())
    var_95, var_99, es_975 = firm_var(exposures)
    return RiskSnapshot(
        account=FIRM,
        ts=ts,
        equity=totals["equity"],
        cash=totals["cash"],
        gross_exposure=gross,
        net_exposure=sum(exposures.values()),
        leverage=leverage(gross, totals["equity"]),
        realized_pnl=totals["realized_pnl"],
        unrealized_pnl=totals["unrealized_pnl"],
        daily_pnl=totals["daily_pnl"],
        drawdown=0.0,
        var_method=settings.var_method.value,
        concentration=0.0 if gross == 0 else max(abs(v) for v in exposures.values()) / gross,
        trading_state="ACTIVE",
        var_95=var_95,
        var_99=var_99,
        es_975=es_975,
        positions=tuple(
            SnapshotPosition(symbol, 0.0, 0.0, 0.0, value)
            for symbol, value in sorted(exposures.items())
            if value != 0.0
        ),
    )


def with_firm_marks(snapshot: RiskSnapshot) -> tuple[RiskSnapshot, float | None]:
    """Fill in the firm's drawdown from its own equity high-water mark."""
    marks = AccountState.from_dict(
        tables.firm_parts.get(MARKS) or {"account": FIRM, "cash": "0"}
    ).with_equity_mark(snapshot.equity, snapshot.ts)
    tables.firm_parts[MARKS] = marks.to_dict()
    drawdown = valuation.drawdown(snapshot.equity, marks.equity_high)
    return replace(snapshot, drawdown=drawdown or 0.0), drawdown


@app.agent(topics.firm_exposures)
async def firm(stream: Any) -> None:
    """Keep the latest part per source partition; publish FIRM snapshots and alerts."""
    async for event in stream.events():
        part = json.loads(event.message.value)
        tables.firm_parts[str(part["partition"])] = part
        parts = [v for k, v in tables.firm_parts.items() if v is not None and k != MARKS]
        snapshot, drawdown = with_firm_marks(firm_snapshot(parts, int(part["ts"])))
        await publish_snapshot(snapshot)
        inputs = replace(snapshot_inputs(snapshot), drawdown=drawdown)
        await evaluate_rules(FIRM, rule_metrics(inputs, None), snapshot.ts)
