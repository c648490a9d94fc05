"""Order agent: every NEW/REPLACE request gets exactly one OrderDecision.

Cancels are never blocked: they move the order to CANCELLED and release its
reservation. A NEW request seen before is answered with its original decision
when it is a redelivery (same ts), and rejected as a duplicate otherwise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from redfire import metrics
from redfire.agents.intake import encode_output, now_ms, records
from redfire.agents.pretrade import evaluate, flow
from redfire.app import app, settings
from redfire.risk import lifecycle
from redfire.schemas import codec
from redfire.schemas.records import OrderDecision, OrderRequest, Reason
from redfire.streams import topics
from redfire.tables import definitions as tables
from redfire.tables import store
from redfire.tables.activity import activity
from redfire.tables.limit_store import limit_store

log = logging.getLogger(__name__)
seen_pruner = store.SeenPruner(tables.seen_orders, settings.seen_retention_s)


def decision_for(
    order: OrderRequest,
    reasons: tuple[Reason, ...],
    var_before: float | None,
    var_after: float | None,
    started_ns: int,
) -> OrderDecision:
    return OrderDecision(
        order_id=order.order_id,
        account=order.account,
        symbol=order.symbol,
        decision="REJECTED" if reasons else "APPROVED",
        reasons=reasons,
        var_before=var_before,
        var_after=var_after,
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


def refuse(result: lifecycle.IllegalTransition) -> None:
    """Count and log a refused lifecycle transition."""
    metrics.ILLEGAL_TRANSITIONS.labels(result.event.value).inc()
    log.warning("order %s: %s", result.order_id, result.message)


def apply_event(
    order: lifecycle.OrderLifecycle, event: lifecycle.OrderEvent, ts: int, **kwargs: Any
) -> lifecycle.OrderLifecycle | None:
    """Apply one lifecycle event and store it; return None when refused."""
    result = lifecycle.transition(order, event, ts, **kwargs)
    if isinstance(result, lifecycle.IllegalTransition):
        refuse(result)
        return None
    store.save_transition(result)
    return result.order


def expire_stale_orders(account: str, ts: int) -> None:
    """Expire the account's orders whose deadline has passed (IOC/FOK timeout, DAY end)."""
    for order_id in store.live_orders.due(account, ts):
        order = store.get_order(account, order_id)
        if order is not None:
            expiry = min(ts, store.order_deadline(order))
            apply_event(order, lifecycle.OrderEvent.EXPIRE, expiry)


def open_order(order: OrderRequest, reference: float | None) -> None:
    """Create the lifecycle of an approved order: APPROVED (reserving), then OPEN."""
    created = lifecycle.new_order(
        order.order_id,
        order.account,
        order.symbol,
        order.side,
        order.qty,
        order.price,
        order.order_type,
        order.ts,
        order.time_in_force,
    )
    decided = lifecycle.decide(created, True, order.ts, reference_price=reference)
    if isinstance(decided, lifecycle.IllegalTransition):
        refuse(decided)
        return
    opened = lifecycle.open_after_approval(decided.order, order.ts)
    if isinstance(opened, lifecycle.IllegalTransition):
        refuse(opened)
        store.save_transition(decided)
        return
    # One write for APPROVED → OPEN: the reservation is the whole change from CREATED.
    store.save_transition(replace(opened, previous=created))


async def handle_new(order: OrderRequest, started: int) -> OrderDecision:
    """Decide a NEW request; an approved order becomes OPEN and reserves buying power."""
    seen_key = tables.compound_key(order.account, order.order_id)
    seen = tables.seen_orders.get(seen_key)
    if seen is not None and seen.get("request_ts") == order.ts:
        metrics.DUPLICATES.labels("orders").inc()
        repeated = replace(decision_from_seen(seen["decision"]), ts=now_ms())
        if (
            repeated.decision == "APPROVED"
            and store.get_order(order.account, order.order_id) is None
        ):
            # A crash kept the seen-marker but not the order: open it again.
            open_order(order, last_price_of(order.symbol))
        await emit(repeated)
        return repeated
    limits = limit_store.for_account(order.account)
    verdict = evaluate(order, limits, seen is not None)
    decision = decision_for(order, verdict.reasons, verdict.var_before, verdict.var_after, started)
    if seen is None:
        tables.seen_orders[seen_key] = {
            "request_ts": order.ts,
            "ts": order.ts,
            "decision": codec.to_jsonable(decision),
        }
        if not verdict.reasons:
            open_order(order, verdict.reference_price)
    await emit(decision)
    return decision


def last_price_of(symbol: str) -> float | None:
    """Return the symbol's last price, the reference of a market order."""
    mark = store.last_price(symbol)
    return None if mark is None else mark.price


def decision_from_seen(stored: dict[str, Any]) -> OrderDecision:
    """Rebuild the decision stored with a seen order id."""
    fields = dict(stored)
    fields["reasons"] = tuple(Reason(**r) for r in fields.get("reasons", ()))
    return OrderDecision(**fields)


async def handle_replace(order: OrderRequest, started: int) -> OrderDecision:
    """Decide a REPLACE of a live order: new qty/price checked as a fresh order."""
    existing = store.get_order(order.account, order.order_id)
    if existing is None or lifecycle.is_terminal(existing):
        reason = Reason("unknown_order", f"no live order {order.order_id} to replace")
        refused = decision_for(order, (reason,), None, None, started)
        await emit(refused)
        return refused
    limits = limit_store.for_account(order.account)
    replaced = float(existing.reserved) if existing.side == "BUY" else 0.0
    verdict = evaluate(order, limits, False, replaced)
    reasons = verdict.reasons
    if not reasons:
        replaced_order = apply_event(
            existing, lifecycle.OrderEvent.REPLACE, order.ts, qty=order.qty, price=order.price
        )
        if replaced_order is None:
            reasons = (Reason("lifecycle", f"order {order.order_id} cannot be replaced now"),)
    decision = decision_for(order, reasons, verdict.var_before, verdict.var_after, started)
    await emit(decision)
    return decision


def handle_cancel(order: OrderRequest) -> None:
    """Cancel a live order (never blocked); count the cancel for the cancel-rate check."""
    flow.record_cancel(order.account, order.ts)
    existing = store.get_order(order.account, order.order_id)
    if existing is None:
        metrics.ILLEGAL_TRANSITIONS.labels("CANCEL").inc()
        log.warning("cancel for unknown order %s", order.order_id)
        return
    apply_event(existing, lifecycle.OrderEvent.CANCEL, order.ts)


@app.agent(topics.orders)
async def order_checks(stream: Any) -> None:
    """Check each order request and publish its decision."""
    async for event, order in records(stream, codec.ORDER, topics.orders, lambda o: o.account):
        started = time.perf_counter_ns()
        expire_stale_orders(order.account, order.ts)
        if order.action == "CANCEL":
            handle_cancel(order)
            continue
        if order.action == "REPLACE":
            decision = await handle_replace(order, started)
        else:
            decision = await handle_new(order, started)
        flow.record_order(order.account, order.ts, decision.decision == "REJECTED")
        activity.touch(order.account)
        seen_pruner.tick(event.message.partition, order.ts)
