"""Monitor: snapshots, monitoring rules, alerts, the emergency stop, firm parts.

A worker timer passes over the account partitions this worker owns every
REDFIRE_MONITOR_TICK_S. For each account that changed (or whose last snapshot
is older than REDFIRE_SNAPSHOT_INTERVAL) it publishes a RiskSnapshot, runs the
scheduled stress scenarios when due, evaluates the rules, emits FIRING/RESOLVED
alerts and applies rule actions (``flatten``: the emergency stop of
``redfire.agents.emergency``); then it hands each partition's totals to the firm
stage. Every alert published for an account is also kept in its aggregate (the
last 10, in memory: GET /accounts/{a}/risk and the real-time report read them).

The pass shares the event loop with the order agent, so it works in slices:
it yields to the loop whenever a slice has run for REDFIRE_MONITOR_SLICE_MS,
and a pass that finds nothing changed costs almost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redfire import jsonio, metrics
from redfire.agents.alerts import publish_alert
from redfire.agents.context import AgentContext
from redfire.agents.emergency import EmergencyStop, StopCause
from redfire.agents.snapshots import SnapshotBuilder, cash_value, rule_metrics
from redfire.agents.stress import stress_account
from redfire.risk.lifecycle import OrderStatus
from redfire.risk.rules import FLATTEN, MonitoringRule, RuleState, alert_message, evaluate
from redfire.risk.vocabulary import FIRING, FIRM, HALTED, REDUCE_ONLY, TradingState
from redfire.schemas.records import RiskAlert, RiskSnapshot
from redfire.state.account import RECENT_ALERTS, AccountAggregate
from redfire.state.durable import JsonValue
from redfire.state.unit import StaleUnit, UnitOfWork, ValueSource
from redfire.state.worker import compound_key

log = logging.getLogger(__name__)
MAX_VAR_GAUGE_ACCOUNTS = 50
ACTION_STATES: dict[str, TradingState] = {
    "reduce_only": REDUCE_ONLY,
    "halt": HALTED,
    FLATTEN: HALTED,
}
ORDER_FIELDS = (
    "active_orders",
    "pending_orders",
    "partially_filled_orders",
    "ordered_qty",
    "filled_qty",
    "reserved",
    "buying_power",
)
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
    order_summaries: list[dict[str, float]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        exposures: dict[str, float] = {}
        quantities: dict[str, float] = {}
        for snapshot in self.snapshots:
            for position in snapshot.positions:
                symbol = position.symbol
                exposures[symbol] = exposures.get(symbol, 0.0) + position.market_value
                quantities[symbol] = quantities.get(symbol, 0.0) + position.qty
        totals = {name: sum(getattr(s, name) for s in self.snapshots) for name in SUMMED}
        orders = {name: sum(o[name] for o in self.order_summaries) for name in ORDER_FIELDS}
        return {
            "partition": self.partition,
            "ts": self.ts,
            "accounts": len(self.snapshots),
            "exposures": exposures,
            **totals,
            # For the firm's real-time report (GET /report): net quantity per symbol,
            # live-order counts and buying power, as of each account's last snapshot.
            "quantities": quantities,
            "orders": orders,
        }


class RuleRunner:
    """Evaluate every rule for one key (an account or FIRM) and say what to emit."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        # Alerts of keys without an account aggregate (FIRM), the last 10; in memory.
        self.recent: deque[RiskAlert] = deque(maxlen=RECENT_ALERTS)

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
        if not await publish_alert(self.ctx, alert, uow):
            self.recent.append(alert)


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


# The worker spreads each pass over this many steps of REDFIRE_MONITOR_TICK_S, each over a
# share of every partition's accounts (by a hash of the name). Orders that arrive while the
# monitor works wait until its step is done, although it yields every slice (bench_latency:
# the slowest decisions came in clusters at each pass, 30-40 ms for 50 changed accounts);
# a step is an eighth of a pass.
STEPS = 8


def step_of(account: str) -> int:
    """Return the step of a pass that monitors ``account`` (stable across workers)."""
    return zlib.crc32(account.encode()) % STEPS


class Monitor:
    """One pass over the owned accounts: snapshots, stress, rules, actions, firm parts."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        settings = ctx.settings
        self.snapshots = SnapshotBuilder(
            ctx.state,
            settings.var_method.value,
            marks_start_unfunded=settings.default_cash > 0,
            components=settings.snapshot_components,
        )
        self.rules = RuleRunner(ctx)
        self.emergency = EmergencyStop(ctx)
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

    async def run_step(self, step: int) -> None:
        """Monitor one step of a pass: the accounts with ``step_of(name) == step`` of every
        owned partition. A partition publishes its totals when one of them was snapshot, and
        at its own step (``partition % STEPS == step``) in any case.
        """
        for partition in sorted(self.state.account_partitions):
            await self.monitor_partition(partition, step)

    async def monitor_partition(self, partition: int, step: int | None = None) -> None:
        """Monitor a partition's due accounts (of one step, or all) and publish its totals."""
        now = self.ctx.clock()
        totals = PartitionTotals(partition, now)
        uow = self.ctx.unit()
        epoch = self.state.epoch
        # A partition's totals go to the firm stage whenever a step snapshots one of its
        # accounts (so the firm's part is as fresh as the account's), and once a pass at
        # its own step even when none was due.
        publish = step is None or partition % STEPS == step
        slice_start = time.perf_counter_ns()
        for account in self.state.accounts_on(partition):
            mine = step is None or step_of(account.name) == step
            if mine and self.due(account, now):
                await self.monitor_account(account, now, uow)
                publish = True
            if account.last_snapshot is not None:
                totals.snapshots.append(account.last_snapshot)
            if account.order_summary is not None:
                totals.order_summaries.append(account.order_summary)
            if time.perf_counter_ns() - slice_start > self.slice_ns:
                await asyncio.sleep(0)
                slice_start = time.perf_counter_ns()
                if self.state.epoch != epoch:
                    return  # partitions moved while we yielded: the owner's next pass redoes it
        if publish and totals.snapshots:
            await uow.emit(
                self.ctx.names.firm_exposures,
                FIRM.encode(),
                jsonio.dumps(totals.body()),
                self.state.partition_of(FIRM),
            )
        try:
            await uow.commit()
        except StaleUnit:
            log.info("monitor pass of partition %d overtaken by a rebalance; redone", partition)

    async def monitor_account(self, account: AccountAggregate, now: int, uow: UnitOfWork) -> None:
        """Snapshot one account, run its scheduled stress and rules, act on what fired."""
        outcome = self.snapshots.build(account, now)
        snapshot = outcome.snapshot
        tables = self.state.tables
        if outcome.marks_changed:
            uow.stage(tables.accounts, account.partition, account.name, account.account_value)
        if outcome.backtest_changed and account.backtest is not None:
            backtest = account.backtest
            uow.stage(tables.var_backtests, account.partition, account.name, backtest.to_record)
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
        account.order_summary = self.order_summary(account)
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

    def order_summary(self, account: AccountAggregate) -> dict[str, float]:
        """Return the account's live-order counts and buying power (for the firm stage)."""
        live = [r.order for r in account.live.values() if r.order is not None]
        partial = sum(1 for o in live if o.status == OrderStatus.PARTIALLY_FILLED)
        cash, reserved = cash_value(self.state, account).total, float(account.reserved)
        leverage = self.state.config.limits_for(account.name).max_leverage
        return {
            "active_orders": len(live),
            "pending_orders": len(live) - partial,
            "partially_filled_orders": partial,
            "ordered_qty": float(sum(o.qty for o in live)),
            "filled_qty": float(sum(o.filled_qty for o in live)),
            "reserved": reserved,
            "buying_power": max(0.0, cash - reserved) * leverage,
        }

    async def apply_action(
        self, account: AccountAggregate, rule: MonitoringRule, ts: int, uow: UnitOfWork
    ) -> None:
        """Apply a rule's action: REDUCE_ONLY, HALT plus a cancel of every live order, or
        FLATTEN (HALT, cancel, close every position, the emergency-stop event)."""
        if rule.action == FLATTEN:
            trigger = f"rule {rule.rule_id}: {rule.metric} {rule.comparison} {rule.threshold:g}"
            cause = StopCause(f"rule-{rule.rule_id}-{ts}", trigger, ts)
            await self.emergency.flatten(account, cause, uow)
            return
        target = ACTION_STATES[rule.action]
        account.record.trading_state = target
        tables = self.state.tables
        uow.stage(tables.accounts, account.partition, account.name, account.account_value)
        log.warning("rule %s set %s to %s", rule.rule_id, account.name, target)
        if rule.action == "halt":
            await self.cancel_all(account, ts, uow)

    async def cancel_all(self, account: AccountAggregate, ts: int, uow: UnitOfWork) -> None:
        """Send a CANCEL request for every live order of the account (emergency stop)."""
        await self.emergency.cancel_all(account, ts, uow)
