"""Firm stage: merge every partition's exposures into firm exposure and firm VaR/ES.

All parts are keyed ``FIRM``, so one agent instance (one partition) holds the
latest part of every source partition, publishes the FIRM snapshot once per
batch of parts, and evaluates FIRM-scope rules on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from redfire import jsonio
from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope
from redfire.agents.monitor import SUMMED, RuleRunner, constant, set_var_gauges
from redfire.agents.snapshots import rule_metrics, snapshot_metrics
from redfire.risk import valuation
from redfire.risk.firm import merge_exposures
from redfire.risk.measures import InsufficientHistory
from redfire.risk.portfolio import assemble_portfolio
from redfire.risk.rules import RuleState
from redfire.risk.vocabulary import ACTIVE, FIRM
from redfire.schemas.records import RiskSnapshot, SnapshotPosition
from redfire.state.unit import UnitOfWork

log = logging.getLogger(__name__)
MARKS = "_marks"


class FirmDesk:
    """Keep the latest part per source partition; publish FIRM snapshots and alerts."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.rules = RuleRunner(ctx)
        self.parts: dict[str, dict[str, Any]] | None = None
        self.marks: dict[str, Any] = {}
        self.rule_states: dict[str, RuleState] = {}

    def load(self, partition: int) -> None:
        """Read the stored parts, marks and rule states once (after an assignment)."""
        table = self.state.tables.firm_parts
        self.parts = {}
        for key, value in table.items(partition):
            if key == MARKS:
                self.marks = value
            else:
                self.parts[key] = value
        for key, raw in self.state.tables.rule_states.items(partition):
            owner, _, rule_id = key.partition("|")
            if owner == FIRM:
                self.rule_states[rule_id] = RuleState(**raw)

    def forget(self) -> None:
        self.parts = None
        self.marks = {}
        self.rule_states = {}

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        partition = envelopes[0].partition
        if self.parts is None:
            self.load(partition)
        assert self.parts is not None
        uow = self.ctx.unit()
        table = self.state.tables.firm_parts
        latest_ts = 0
        for envelope in envelopes:
            try:
                part = jsonio.loads(envelope.value or b"")
                key = str(int(part["partition"]))
                latest_ts = max(latest_ts, int(part["ts"]))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("firm stage: unreadable part at offset %d: %s", envelope.offset, exc)
                continue
            self.parts[key] = part
            uow.stage(table, partition, key, constant(part))
        if latest_ts:
            await self.publish(partition, latest_ts, uow)
        return await uow.flush()

    async def publish(self, partition: int, ts: int, uow: UnitOfWork) -> None:
        assert self.parts is not None
        snapshot = self.with_marks(firm_snapshot(self, list(self.parts.values()), ts))
        self.uow_marks(partition, uow)
        await uow.emit(
            self.ctx.names.risk_metrics,
            FIRM.encode(),
            self.ctx.encode(snapshot, "risk_snapshot"),
            self.state.partition_of(FIRM),
        )
        set_var_gauges(snapshot)
        values = rule_metrics(snapshot_metrics(snapshot), None)
        await self.rules.run(FIRM, self.rule_states, values, snapshot.ts, partition, uow)

    def with_marks(self, snapshot: RiskSnapshot) -> RiskSnapshot:
        """Fill in the firm's drawdown from its own equity high-water mark."""
        high = self.marks.get("equity_high")
        high = snapshot.equity if high is None else max(float(high), snapshot.equity)
        self.marks = {"equity_high": high}
        drawdown = 0.0 if high <= 0 else max(0.0, (high - snapshot.equity) / high)
        return RiskSnapshot(**{**snapshot_fields(snapshot), "drawdown": drawdown})

    def uow_marks(self, partition: int, uow: UnitOfWork) -> None:
        marks = dict(self.marks)
        uow.stage(self.state.tables.firm_parts, partition, MARKS, lambda: marks)

    def firm_var(
        self, exposures: dict[str, float]
    ) -> tuple[float | None, float | None, float | None]:
        """Return firm VaR 95, VaR 99 and ES 97.5 of the merged exposures.

        Priced as an account's book is (the same method, settings and columns: under fhs
        the symbols' filtered scenarios), then read at each confidence.
        """
        live = {s: v for s, v in exposures.items() if v != 0.0}
        books = self.state.books
        portfolio = assemble_portfolio(live, books.windows(live), books.policy)
        if isinstance(portfolio, InsufficientHistory) or not portfolio.symbols:
            return None, None, None
        book = books.book_of(portfolio)
        if isinstance(book, InsufficientHistory):
            return None, None, None
        return book.result(0.95).var, book.result(0.99).var, book.result(0.975).es


def snapshot_fields(snapshot: RiskSnapshot) -> dict[str, Any]:
    return {name: getattr(snapshot, name) for name in snapshot.__dataclass_fields__}


def firm_snapshot(desk: FirmDesk, parts: list[dict[str, Any]], ts: int) -> RiskSnapshot:
    """Return the FIRM snapshot of the latest part of every source partition."""
    exposures = merge_exposures({str(p["partition"]): p["exposures"] for p in parts})
    totals = {name: sum(float(p[name]) for p in parts) for name in SUMMED}
    gross = sum(abs(v) for v in exposures.values())
    var_95, var_99, es_975 = desk.firm_var(exposures)
    return RiskSnapshot(
        account=FIRM,
        ts=ts,
        equity=totals["equity"],
        cash=totals["cash"],
        gross_exposure=gross,
        net_exposure=sum(exposures.values()),
        leverage=valuation.leverage(gross, totals["equity"]),
        realized_pnl=totals["realized_pnl"],
        unrealized_pnl=totals["unrealized_pnl"],
        daily_pnl=totals["daily_pnl"],
        drawdown=0.0,
        var_method=desk.ctx.settings.var_method.value,
        concentration=0.0 if gross == 0 else max(abs(v) for v in exposures.values()) / gross,
        trading_state=ACTIVE,
        var_95=var_95,
        var_99=var_99,
        es_975=es_975,
        positions=tuple(
            SnapshotPosition(symbol, 0.0, 0.0, 0.0, value)
            for symbol, value in sorted(exposures.items())
            if value != 0.0
        ),
    )
