"""Monitor: snapshots, monitoring rules, alerts and the emergency stop.

Each worker's timer sends a clock record to every account partition it owns
(``redfire_clock``, co-partitioned with the account topics). The monitor agent
handles it in stream context on that partition, so it may write the account
tables: it publishes a RiskSnapshot for each account that changed (or whose
last one is older than REDFIRE_SNAPSHOT_INTERVAL), evaluates the rules on it,
emits FIRING/RESOLVED alerts, applies rule actions, and hands the partition's
exposures to the firm stage.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from typing import Any

from redfire import metrics
from redfire.agents.firm_part import FIRM, PartitionTotals, publish_part
from redfire.agents.intake import encode_output, now_ms
from redfire.agents.snapshots import build_snapshot, rule_metrics
from redfire.agents.stress import scheduled_stress
from redfire.app import app, settings
from redfire.risk.rules import MonitoringRule, RuleState, alert_message, evaluate
from redfire.schemas.records import OrderRequest, RiskAlert, RiskSnapshot
from redfire.streams import topics
from redfire.streams.partitioning import partition_for
from redfire.tables import definitions as tables
from redfire.tables import store
from redfire.tables.activity import activity
from redfire.tables.config_store import rule_set

log = logging.getLogger(__name__)
MAX_VAR_GAUGE_ACCOUNTS = 50
ACTION_STATES = {"reduce_only": "REDUCE_ONLY", "halt": "HALTED"}


@app.timer(interval=settings.monitor_tick_s)  # type: ignore[untyped-decorator]
async def clock() -> None:
    """Send a clock record to each account partition this worker owns."""
    orders_topic = settings.topic("orders")
    owned = [tp.partition for tp in app.assignor.assigned_actives() if tp.topic == orders_topic]
    for partition in owned:
        body = json.dumps({"partition": partition, "ts": now_ms()}).encode()
        await topics.risk_clock.send(key=str(partition).encode(), value=body, partition=partition)


def accounts_on(partition: int) -> list[str]:
    """Return the accounts this worker knows that live on ``partition``."""
    known = store.known_accounts | store.position_index.accounts()
    return sorted(
        a for a in known if a != FIRM and partition_for(a, settings.partitions) == partition
    )


# Evaluation bookkeeping (last evaluation time and value) changes on every
# snapshot; only whether a rule fires, and when it last fired, must survive a
# restart. So states live here and reach the table only when those change.
rule_states: dict[str, RuleState] = {}


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
def forget_rule_states(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Drop cached rule states: the accounts may move to another worker."""
    rule_states.clear()


def known_rule_states(account: str | None = None) -> dict[str, dict[str, RuleState]]:
    """Return rule_id → key → last state for the keys this worker holds (``GET /rules``)."""
    found: dict[str, dict[str, RuleState]] = {}
    stored = {key: RuleState(**raw) for key, raw in tables.rule_states.items() if raw}
    for key, state in {**stored, **rule_states}.items():
        owner, _, rule_id = key.partition("|")
        never_evaluated = state.last_eval_ts is None and not state.firing  # out of scope
        if not never_evaluated and (account is None or owner == account):
            found.setdefault(rule_id, {})[owner] = state
    return found


def load_rule_state(account: str, rule_id: str) -> RuleState:
    key = tables.compound_key(account, rule_id)
    state = rule_states.get(key)
    if state is None:
        raw = tables.rule_states.get(key)
        state = rule_states[key] = RuleState() if raw is None else RuleState(**raw)
    return state


def save_rule_state(account: str, rule_id: str, state: RuleState) -> None:
    key = tables.compound_key(account, rule_id)
    before = rule_states.get(key)
    rule_states[key] = state
    if before is not None and (before.firing, before.last_fired_ts) == (
        state.firing,
        state.last_fired_ts,
    ):
        return
    tables.rule_states[key] = {
        "firing": state.firing,
        "last_fired_ts": state.last_fired_ts,
        "last_eval_ts": state.last_eval_ts,
        "last_value": state.last_value,
    }


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


async def publish_alert(alert: RiskAlert) -> None:
    await topics.risk_alerts.send(
        key=alert.account.encode(), value=encode_output(alert, "risk_alert")
    )
    metrics.ALERTS.labels(alert.rule_id, alert.severity, alert.state).inc()


async def evaluate_rules(key: str, values: dict[str, float], ts: int) -> None:
    """Evaluate every rule for ``key`` (an account or FIRM); alert and act on transitions."""
    for rule in rule_set.all().values():
        state = load_rule_state(key, rule.rule_id)
        outcome = evaluate(rule, state, values, key, ts)
        if outcome.new_state != state:
            save_rule_state(key, rule.rule_id, outcome.new_state)
        if outcome.transition is None:
            continue
        value = outcome.value if outcome.value is not None else float("nan")
        await publish_alert(alert_for(rule, key, value, outcome.transition, ts))
        if outcome.transition == "FIRING" and rule.action in ACTION_STATES and key != "FIRM":
            await apply_action(key, rule, ts)


async def apply_action(account: str, rule: MonitoringRule, ts: int) -> None:
    """Apply a rule's action: REDUCE_ONLY, or HALT plus a cancel of every live order."""
    state = store.get_account(account)
    target = ACTION_STATES[rule.action]
    store.put_account(replace(state, trading_state=target))  # type: ignore[arg-type]
    log.warning("rule %s set %s to %s", rule.rule_id, account, target)
    if rule.action == "halt":
        await cancel_all(account, ts)


async def cancel_all(account: str, ts: int) -> None:
    """Send a CANCEL request for every live order of the account (emergency stop)."""
    for order_id in sorted(store.live_orders.ids(account)):
        order = store.get_order(account, order_id)
        if order is None:
            continue
        cancel = OrderRequest(
            order_id=order_id,
            account=account,
            symbol=order.symbol,
            side=order.side,  # type: ignore[arg-type]
            qty=float(order.qty),
            ts=ts,
            action="CANCEL",
            strategy="redfire-emergency-stop",
        )
        await topics.orders.send(key=account.encode(), value=encode_output(cancel, "order_request"))


async def publish_snapshot(snapshot: RiskSnapshot) -> None:
    await topics.risk_metrics.send(
        key=snapshot.account.encode(), value=encode_output(snapshot, "risk_snapshot")
    )
    set_var_gauges(snapshot)


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


async def monitor_account(account: str, now: int, totals: PartitionTotals) -> None:
    """Snapshot one account if due, run its rules, and add it to the partition totals."""
    if not activity.due(account, now, int(settings.snapshot_interval * 1000)):
        totals.add_cached(account)
        return
    figures = build_snapshot(account, now)
    snapshot = figures.snapshot
    stress_loss = await scheduled_stress(account, now)
    await publish_snapshot(snapshot)
    activity.published_at(account, now)
    totals.add(snapshot)
    await evaluate_rules(account, rule_metrics(figures.inputs, stress_loss), now)


@app.agent(topics.risk_clock)
async def monitor(stream: Any) -> None:
    """On each clock record, monitor every account of its partition."""
    async for event in stream.events():
        partition = event.message.partition
        now = now_ms()
        totals = PartitionTotals(partition, now)
        for account in accounts_on(partition):
            await monitor_account(account, now, totals)
        await publish_part(totals)
