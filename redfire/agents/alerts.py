"""Publish a RiskAlert and remember it with its account (the last 10, for the risk route)."""

from __future__ import annotations

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.schemas.records import RiskAlert
from redfire.state.unit import UnitOfWork


async def publish_alert(ctx: AgentContext, alert: RiskAlert, uow: UnitOfWork) -> bool:
    """Emit ``alert`` on ``risk_alerts``; keep it in its account's recent alerts.

    Return True when the alert belongs to an account this worker holds (and was kept
    there), False for a key without an aggregate (FIRM).
    """
    state = ctx.state
    await uow.emit(
        ctx.names.risk_alerts,
        alert.account.encode(),
        ctx.encode(alert, "risk_alert"),
        state.partition_of(alert.account),
    )
    metrics.ALERTS.labels(alert.rule_id, alert.severity, alert.state).inc()
    account = state.known_account(alert.account)
    if account is None:
        return False
    account.recent_alerts.append(alert)
    return True
