"""Monitor: snapshots, monitoring rules, alerts, the emergency stop, firm parts.

A worker timer passes over the account partitions this worker owns every
REDFIRE_MONITOR_TICK_S. For each account that changed (or whose last snapshot
is older than REDFIRE_SNAPSHOT_INTERVAL) it publishes a RiskSnapshot, runs the
scheduled stress scenarios when due, evaluates the rules, emits FIRING/RESOLVED
alerts and applies rule actions; then it hands each partition's totals to the
firm stage.

The pass shares the event loop with the order agent, so it works in slices:
it yields to the loop whenever a slice has run for REDFIRE_MONITOR_SLICE_MS,
and a pass that finds nothing changed costs almost nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.agents.snapshots import SnapshotBuilder, rule_metrics
from redfire.agents.stress import stress_account
from redfire.risk.rules import MonitoringRule, RuleState, alert_message, evaluate
from redfire.risk.vocabulary import FIRING, FIRM, HALTED, REDUCE_ONLY, TradingState
from redfire.schemas.records import OrderRequest, RiskAlert, RiskSnapshot
from redfire.state.account import AccountAggregate
from redfire.state.durable import JsonValue
from redfire.state.unit import UnitOfWork, ValueSource
from redfire.state.worker import compound_key

log = logging.getLogger(__name__)
MAX_VAR_GAUGE_ACCOUNTS = 50
ACTION_STATES: dict[str, TradingState] = {"reduce_only": REDUCE_ONLY, "halt": HALTED}
SUMMED = (
    "equity",
    "cash",
    "gross_exposure",
    "net_exposure",
    "realized_pnl",
    "unrealized_pnl",
    "daily_pnl",
)


@dataclass
class PartitionTotals:
    """The latest snapshot of every account of one partition: what the firm stage merges."""

    partition: int
    ts: int
    snapshots: list[RiskSnapshot] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        exposures: dict[str, float] = {}
        for snapshot in self.snapshots:
            for position in snapshot.positions:
                exposures[position.symbol] = (
                    exposures.get(position.symbol, 0.0) + position.market_value
                )
        totals = {name: sum(getattr(s, name) for s in self.snapshots) for name in SUMMED}
        return {
            "partition": self.partition,
            "ts": self.ts,
            "accounts": len(self.snapshots),
            "exposures": exposures,
            **totals,
        }


class RuleRunner:
    """Evaluate every rule for one key (an account or FIRM) and say what to emit."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state

    async def run(
        self,
        key: str,
        states: dict[str, RuleState],
        values: dict[str, float],
        ts: int,
        partition: int,
        uow: UnitOfWork,
    ) -> list[MonitoringRule]:
        """Evaluate the rules; publish alerts; return the rules that started firing."""
        fired: list[MonitoringRule] = []
        table = self.state.tables.rule_states
        for rule in self.state.config.rules.all().values():
            state = states.get(rule.rule_id) or RuleState()
            outcome = evaluate(rule, state, values, key, ts)
            new = outcome.new_state
            if new != state:
                states[rule.rule_id] = new
                # Only whether a rule fires, and when it last fired, must survive a restart.
                if (new.firing, new.last_fired_ts) != (state.firing, state.last_fired_ts):
                    body = {
                        "firing": new.firing,
                        "last_fired_ts": new.last_fired_ts,
                        "last_eval_ts": new.last_eval_ts,
                        "last_value": new.last_value,
                    }
                    uow.stage(table, partition, compound_key(key, rule.rule_id), constant(body))
            if outcome.transition is None:
                continue
            value = outcome.value if outcome.value is not None else float("nan")
            await self.publish_alert(alert_for(rule, key, value, outcome.transition, ts), uow)
            if outcome.transition == FIRING:
                fired.append(rule)
        return fired

    async def publish_alert(self, alert: RiskAlert, uow: UnitOfWork) -> None:
        await uow.emit(
            self.ctx.names.risk_alerts,
            alert.account.encode(),
            self.ctx.encode(alert, "risk_alert"),
            self.state.partition_of(alert.account),
        )
        metrics.ALERTS.labels(alert.rule_id, alert.severity, alert.state).inc()


def constant(value: JsonValue) -> ValueSource:
    """Return a value source for a value already computed."""
    return lambda: value


def alert_for(rule: MonitoringRule, account: str, value: float, state: str, ts: int) -> RiskAlert:
    return RiskAlert(
        alert_id=uuid.uuid4().hex,
        rule_id=rule.rule_id,
        account=account,
        metric=rule.metric,
        value=value,
        threshold=rule.threshold,
        comparison=rule.comparison,
        severity=rule.severity,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        message=alert_message(rule, value, state),
        ts=ts,
    )


def set_var_gauges(snapshot: RiskSnapshot) -> None:
    """Export VaR/ES per account for a bounded number of accounts (others under _other)."""
    label = snapshot.account
    if label not in metrics.VAR_ACCOUNTS:
        if len(metrics.VAR_ACCOUNTS) >= MAX_VAR_GAUGE_ACCOUNTS:
            label = "_other"
        else:
            metrics.VAR_ACCOUNTS.add(label)
    for confidence, value in (("0.95", snapshot.var_95), ("0.99", snapshot.var_99)):
        if value is not None:
            metrics.VAR.labels(label, confidence).set(value)
    if snapshot.es_975 is not None:
        metrics.ES.labels(label, "0.975").set(snapshot.es_975)


class Monitor:
    """One pass over the owned accounts: snapshots, stress, rules, actions, firm parts."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        settings = ctx.settings
        self.snapshots = SnapshotBuilder(
            ctx.state, settings.var_method.value, marks_start_unfunded=settings.default_cash > 0
        )
        self.rules = RuleRunner(ctx)
        self.interval_ms = int(settings.snapshot_interval * 1000)
        self.stress_interval_ms = int(settings.stress_interval_s * 1000)
        self.slice_ns = int(settings.monitor_slice_ms * 1_000_000)

    def due(self, account: AccountAggregate, now_ms: int) -> bool:
        last = account.published_ms
        return account.changed or last is None or now_ms - last >= self.interval_ms

    async def run_pass(self) -> None:
        """Monitor every owned account partition once."""
        for partition in sorted(self.state.account_partitions):
            await self.monitor_partition(partition)

    async def monitor_partition(self, partition: int) -> None:
        now = self.ctx.clock()
        totals = PartitionTotals(partition, now)
        uow = self.ctx.unit()
        slice_start = time.perf_counter_ns()
        for account in self.state.accounts_on(partition):
            if self.due(account, now):
                await self.monitor_account(account, now, uow)
            if account.last_snapshot is not None:
                totals.snapshots.append(account.last_snapshot)
            if time.perf_counter_ns() - slice_start > self.slice_ns:
                await asyncio.sleep(0)
                slice_start = time.perf_counter_ns()
                if partition not in self.state.account_partitions:
                    return  # revoked while we yielded: the new owner takes over
        if totals.snapshots:
            await uow.emit(
                self.ctx.names.firm_exposures,
                FIRM.encode(),
                json.dumps(totals.body()).encode(),
                self.state.partition_of(FIRM),
            )
        await uow.commit()

    async def monitor_account(self, account: AccountAggregate, now: int, uow: UnitOfWork) -> None:
        """Snapshot one account, run its scheduled stress and rules, act on what fired."""
        outcome = self.snapshots.build(account, now)
        snapshot = outcome.snapshot
        tables = self.state.tables
        if outcome.marks_changed:
            uow.stage(tables.accounts, account.partition, account.name, account.account_value)
        if outcome.backtest_changed and account.backtest is not None:
            backtest = account.backtest
            uow.stage(
                tables.var_backtests, account.partition, account.name, backtest.to_record
            )
        stress_loss = await self.scheduled_stress(account, now, uow)
        await uow.emit(
            self.ctx.names.risk_metrics,
            account.name.encode(),
            self.ctx.encode(snapshot, "risk_snapshot"),
            account.partition,
        )
        set_var_gauges(snapshot)
        account.changed = False
        account.published_ms = now
        account.last_snapshot = snapshot
        values = rule_metrics(outcome.metrics, stress_loss)
        fired = await self.rules.run(
            account.name, account.rule_states, values, now, account.partition, uow
        )
        for rule in fired:
            if rule.action in ACTION_STATES:
                await self.apply_action(account, rule, now, uow)

    async def scheduled_stress(
        self, account: AccountAggregate, now: int, uow: UnitOfWork
    ) -> float | None:
        """Run every scenario every REDFIRE_STRESS_INTERVAL_S; return the worst loss."""
        name = account.name
        if now - account.stress_run_ms >= self.stress_interval_ms:
            account.stress_run_ms = now
            worst = 0.0
            scenarios = self.state.config.scenarios.all()
            for scenario_id in sorted(scenarios):
                result = stress_account(account, self.state.market, scenarios[scenario_id], now)
                worst = max(worst, -result.pnl)
                await uow.emit(
                    self.ctx.names.stress_results,
                    name.encode(),
                    self.ctx.encode(result, "stress_result"),
                    account.partition,
                )
            account.stress_loss = worst
        return account.stress_loss

    async def apply_action(
        self, account: AccountAggregate, rule: MonitoringRule, ts: int, uow: UnitOfWork
    ) -> None:
        """Apply a rule's action: REDUCE_ONLY, or HALT plus a cancel of every live order."""
        target = ACTION_STATES[rule.action]
        account.record.trading_state = target
        tables = self.state.tables
        uow.stage(tables.accounts, account.partition, account.name, account.account_value)
        log.warning("rule %s set %s to %s", rule.rule_id, account.name, target)
        if rule.action == "halt":
            await self.cancel_all(account, ts, uow)

    async def cancel_all(self, account: AccountAggregate, ts: int, uow: UnitOfWork) -> None:
        """Send a CANCEL request for every live order of the account (emergency stop)."""
        for order_id in sorted(account.live):
            order = account.live[order_id].order
            if order is None:
                continue
            cancel = OrderRequest(
                order_id=order_id,
                account=account.name,
                symbol=order.symbol,
                side=order.side,  # type: ignore[arg-type]
                qty=float(order.qty),
                ts=ts,
                action="CANCEL",
                strategy="redfire-emergency-stop",
            )
            await uow.emit(
                self.ctx.names.orders,
                account.name.encode(),
                self.ctx.encode(cancel, "order_request"),
                account.partition,
            )
