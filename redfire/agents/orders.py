"""Order agent: every NEW/REPLACE request gets exactly one OrderDecision."""

from __future__ import annotations

import time
from typing import Any

from redfire import metrics
from redfire.agents.intake import encode_output, now_ms, records
from redfire.app import app
from redfire.schemas import codec
from redfire.schemas.records import OrderDecision, OrderRequest, Reason
from redfire.streams import topics
from redfire.tables import definitions as tables


def basic_reasons(order: OrderRequest, duplicate: bool) -> list[Reason]:
    """Return the failed checks that need no risk state: id and price."""
    reasons = []
    if duplicate:
        reasons.append(Reason("duplicate_order_id", f"order id {order.order_id} already seen"))
    if tables.prices.get(order.symbol) is None:
        reasons.append(Reason("known_symbol", f"no price for symbol {order.symbol}"))
    return reasons


def decide(order: OrderRequest, reasons: list[Reason], started_ns: int) -> OrderDecision:
    """Return the decision for ``order`` given its failed checks."""
    return OrderDecision(
        order_id=order.order_id,
        account=order.account,
        symbol=order.symbol,
        decision="REJECTED" if reasons else "APPROVED",
        reasons=tuple(reasons),
        latency_us=(time.perf_counter_ns() - started_ns) // 1000,
        ts=now_ms(),
    )


async def emit(decision: OrderDecision) -> None:
    """Publish a decision and count it."""
    await topics.order_decisions.send(
        key=decision.account.encode(), value=encode_output(decision, "order_decision")
    )
    metrics.DECISIONS.labels(decision.decision).inc()
    metrics.DECISION_LATENCY.observe(decision.latency_us / 1e6)
    for reason in decision.reasons:
        metrics.REJECTIONS.labels(reason.check).inc()


@app.agent(topics.orders)
async def order_checks(stream: Any) -> None:
    """Check each order request and publish its decision."""
    async for _event, order in records(stream, codec.ORDER, topics.orders, lambda o: o.account):
        started = time.perf_counter_ns()
        if order.action == "CANCEL":
            continue
        seen_key = tables.compound_key(order.account, order.order_id)
        duplicate = order.action == "NEW" and tables.seen_orders.get(seen_key) is not None
        if not duplicate:
            tables.seen_orders[seen_key] = order.ts
        await emit(decide(order, basic_reasons(order, duplicate), started))
