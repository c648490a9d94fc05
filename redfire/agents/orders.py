"""Order agent: every NEW/REPLACE request gets exactly one OrderDecision.

Cancels are never blocked: they move the order to CANCELLED and release its
reservation. The order's record (decision, lifecycle, reservation) is written
before its decision is published, so a request redelivered after a crash
finds its first decision and gets it again; a NEW request with an id seen
before at another ``ts`` is rejected as a duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope, Intake
from redfire.agents.pretrade import PreTrade, Verdict
from redfire.logs import ThrottledWarning
from redfire.risk import lifecycle
from redfire.risk.bars import parse_interval
from redfire.risk.positions import ZERO, to_decimal
from redfire.risk.vocabulary import APPROVED, CANCEL, REJECTED, REPLACE
from redfire.schemas import codec
from redfire.schemas.records import OrderDecision, OrderRequest, Reason
from redfire.state.account import AccountAggregate
from redfire.state.records import ONE, OrderRecord
from redfire.state.unit import UnitOfWork
from redfire.state.worker import compound_key

log = logging.getLogger(__name__)
DAY_MS = 24 * 3600 * 1000


class OrderDesk:
    """Decide order requests and keep the order lifecycle."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.intake: Intake[OrderRequest] = Intake(ctx, codec.ORDER, lambda order: order.account)
        daily = parse_interval(ctx.settings.bar_interval) == DAY_MS
        self.pretrade = PreTrade(ctx.state, daily_bars=daily)
        # Per request, and counted by their metrics: logged at most once per interval each.
        self.warn_unknown_cancel = ThrottledWarning(log)
        self.warn_refused = ThrottledWarning(log)

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        uow = self.ctx.unit()
        await self.intake.process(
            envelopes, uow, lambda order, envelope: self.on_order(order, self.begin(envelope), uow)
        )
        delivered = await uow.flush()
        uow.send_now()  # a decision waits for no linger (redfire.streams.linger)
        self.intake.publish_counts()
        return delivered

    @staticmethod
    def begin(envelope: Envelope) -> int:
        """Count how long the request waited to be read; return when its handling starts.

        The wait is the backlog before the checks (``redfire_order_wait_seconds``); the
        decision latency histogram starts here and covers only the checks and the writes.
        """
        if envelope.timestamp is not None:
            metrics.ORDER_WAIT.observe(max(0.0, time.time() - envelope.timestamp))
        return time.perf_counter_ns()

    async def on_order(self, order: OrderRequest, started_ns: int, uow: UnitOfWork) -> None:
        """Handle one request: expire what is due, then cancel, replace or decide."""
        account = self.state.account(order.account)
        self.state.saw_event(order.ts)
        self.expire_due_orders(account, order.ts, uow)
        if order.action == CANCEL:
            self.cancel(account, order, uow)
            return
        if order.action == REPLACE:
            decision = await self.replace(account, order, started_ns, uow)
        else:
            decision = await self.decide_new(account, order, started_ns, uow)
        account.flow.record_order(order.ts, decision.decision == REJECTED)
        account.touch()

    # ------------------------------------------------------------------ NEW

    async def decide_new(
        self, account: AccountAggregate, order: OrderRequest, started_ns: int, uow: UnitOfWork
    ) -> OrderDecision:
        """Decide a NEW request; an approved order becomes OPEN and reserves buying power."""
        record = self.state.order_record(account, order.order_id)
        repeated = await self.repeat_decision(record, order, uow)
        if repeated is not None:
            return repeated
        verdict = self.pretrade.evaluate(account, order, duplicate=record is not None)
        decision = self.decision_for(order, verdict, started_ns)
        jsonable = codec.to_jsonable(decision)  # once: for the record and the output
        if record is None:
            opened = self.open_order(order, verdict) if not verdict.reasons else None
            decisions = {order.ts: jsonable}
            stored = OrderRecord(opened, decisions, fx_rate=reservation_rate(verdict.fx_rate))
            await self.save(account, stored, order.order_id, uow)
        await self.emit(decision, uow, jsonable)
        return decision

    def open_order(self, order: OrderRequest, verdict: Verdict) -> lifecycle.OrderLifecycle | None:
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
        decided = lifecycle.decide(created, True, order.ts, reference_price=verdict.reference_price)
        if isinstance(decided, lifecycle.IllegalTransition):
            self.refuse(decided)
            return None
        opened = lifecycle.open_after_approval(decided.order, order.ts)
        if isinstance(opened, lifecycle.IllegalTransition):
            self.refuse(opened)
            return decided.order
        return opened.order

    # -------------------------------------------------------------- REPLACE

    async def replace(
        self, account: AccountAggregate, order: OrderRequest, started_ns: int, uow: UnitOfWork
    ) -> OrderDecision:
        """Decide a REPLACE of a live order: the new qty/price checked as a fresh order."""
        record = self.state.order_record(account, order.order_id)
        repeated = await self.repeat_decision(record, order, uow)
        if repeated is not None:
            return repeated
        existing = None if record is None else record.order
        if record is None or existing is None or lifecycle.is_terminal(existing):
            reason = Reason("unknown_order", f"no live order {order.order_id} to replace")
            refused = self.decision_with(order, (reason,), None, None, started_ns, ())
            await self.emit(refused, uow)
            return refused
        replaced_reservation = float(record.reserved)
        verdict = self.pretrade.evaluate(account, order, False, replaced_reservation)
        reasons = verdict.reasons
        changed = existing
        if not reasons:
            result = lifecycle.transition(
                existing, lifecycle.OrderEvent.REPLACE, order.ts, qty=order.qty, price=order.price
            )
            if isinstance(result, lifecycle.IllegalTransition):
                self.refuse(result)
                reasons = (Reason("lifecycle", f"order {order.order_id} cannot be replaced now"),)
            else:
                changed = result.order
        decision = self.decision_with(
            order, reasons, verdict.var_before, verdict.var_after, started_ns, verdict.notes
        )
        jsonable = codec.to_jsonable(decision)
        decisions = record.with_decision(order.ts, jsonable)
        stored = replace(record, order=changed, decisions=decisions)
        await self.save(account, stored, order.order_id, uow)
        await self.emit(decision, uow, jsonable)
        return decision

    # --------------------------------------------------------------- CANCEL

    def cancel(self, account: AccountAggregate, order: OrderRequest, uow: UnitOfWork) -> None:
        """Cancel a live order (never blocked); count it for the cancel-rate check."""
        account.flow.record_cancel(order.ts)
        record = self.state.order_record(account, order.order_id)
        if record is None or record.order is None:
            metrics.ILLEGAL_TRANSITIONS.labels("CANCEL").inc()
            self.warn_unknown_cancel("cancel for unknown order %s", order.order_id)
            return
        self.apply_event(account, record, lifecycle.OrderEvent.CANCEL, order.ts, uow)
        account.touch()

    # --------------------------------------------------------------- expiry

    def expire_due_orders(self, account: AccountAggregate, ts: int, uow: UnitOfWork) -> None:
        """Expire the account's orders whose deadline has passed (IOC/FOK timeout, DAY end)."""
        for record in account.due_orders(ts):
            self.apply_event(
                account, record, lifecycle.OrderEvent.EXPIRE, min(ts, record.deadline), uow
            )

    def apply_event(
        self,
        account: AccountAggregate,
        record: OrderRecord,
        event: lifecycle.OrderEvent,
        ts: int,
        uow: UnitOfWork,
    ) -> None:
        """Apply one lifecycle event and stage the record; refused events are counted."""
        assert record.order is not None
        result = lifecycle.transition(record.order, event, ts)
        if isinstance(result, lifecycle.IllegalTransition):
            self.refuse(result)
            return
        updated = replace(record, order=result.order)
        account.put_order(updated)
        key = compound_key(account.name, record.order.order_id)
        uow.stage(self.state.tables.orders, account.partition, key, updated.to_dict)

    # -------------------------------------------------------------- outputs

    async def repeat_decision(
        self, record: OrderRecord | None, order: OrderRequest, uow: UnitOfWork
    ) -> OrderDecision | None:
        """Send a redelivered request's first decision again; None when it is new."""
        stored = None if record is None else record.decision_of(order.ts)
        if stored is None:
            return None
        metrics.DUPLICATES.labels("orders").inc()
        repeated = replace(decision_from_record(stored), ts=self.ctx.clock())
        await self.emit(repeated, uow)
        return repeated

    async def save(
        self, account: AccountAggregate, record: OrderRecord, order_id: str, uow: UnitOfWork
    ) -> None:
        """Hold the record in the aggregate and write it now, before its decision."""
        if record.order is not None:
            record.deadline = self.state.deadline_of(record.order)
        account.put_order(record)
        key = compound_key(account.name, order_id)
        await uow.write_now(self.state.tables.orders, account.partition, key, record.to_dict())

    def decision_for(self, order: OrderRequest, verdict: Verdict, started_ns: int) -> OrderDecision:
        return self.decision_with(
            order,
            verdict.reasons,
            verdict.var_before,
            verdict.var_after,
            started_ns,
            verdict.notes,
        )

    def decision_with(
        self,
        order: OrderRequest,
        reasons: tuple[Reason, ...],
        var_before: float | None,
        var_after: float | None,
        started_ns: int,
        notes: tuple[str, ...],
    ) -> OrderDecision:
        return OrderDecision(
            order_id=order.order_id,
            account=order.account,
            symbol=order.symbol,
            decision=REJECTED if reasons else APPROVED,
            reasons=reasons,
            var_before=var_before,
            var_after=var_after,
            latency_us=(time.perf_counter_ns() - started_ns) // 1000,
            ts=self.ctx.clock(),
            notes=notes,
        )

    async def emit(
        self, decision: OrderDecision, uow: UnitOfWork, jsonable: codec.JsonDict | None = None
    ) -> None:
        """Publish a decision and count it."""
        await uow.emit(
            self.ctx.names.order_decisions,
            decision.account.encode(),
            self.ctx.encode(decision, "order_decision", jsonable),
            self.state.partition_of(decision.account),
        )
        metrics.DECISIONS.labels(decision.decision).inc()
        metrics.DECISION_LATENCY.observe(decision.latency_us / 1e6)
        for reason in decision.reasons:
            metrics.REJECTIONS.labels(reason.check).inc()

    def refuse(self, result: lifecycle.IllegalTransition) -> None:
        """Count and log a refused lifecycle transition."""
        metrics.ILLEGAL_TRANSITIONS.labels(result.event.value).inc()
        self.warn_refused("order %s: %s", result.order_id, result.message)


def decision_from_record(stored: dict[str, Any]) -> OrderDecision:
    """Rebuild the decision stored with an order's record."""
    fields = dict(stored)
    fields["reasons"] = tuple(Reason(**r) for r in fields.get("reasons", ()))
    fields["notes"] = tuple(fields.get("notes", ()))
    return OrderDecision(**fields)


def reservation_rate(fx_rate: float | None) -> Decimal:
    """Return the rate an order's reservation is held at in the base currency.

    Without a rate (check_fx_rate off) the buying-power check was skipped, and nothing is
    reserved rather than a local amount counted as base currency.
    """
    if fx_rate is None:
        return ZERO
    return ONE if fx_rate == 1.0 else to_decimal(fx_rate)
