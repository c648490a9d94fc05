"""Fill agent: executions → positions, cash, PnL and the order lifecycle.

Idempotent by ``fill_id``: a replayed or duplicated fill is ignored. Fills for
orders RedFire never saw still move positions (the gateway is the source of
truth) and are counted.
"""

from __future__ import annotations

import logging
from typing import Any

from redfire import metrics
from redfire.agents.intake import records
from redfire.app import app, settings
from redfire.risk import lifecycle
from redfire.risk.positions import apply_fill, to_decimal
from redfire.schemas import codec
from redfire.schemas.records import Fill
from redfire.streams import topics
from redfire.tables import definitions as tables
from redfire.tables import store
from redfire.tables.activity import activity
from redfire.tables.books import books

log = logging.getLogger(__name__)
seen_pruner = store.SeenPruner(tables.seen_fills, settings.seen_retention_s)


def apply_to_position(fill: Fill) -> None:
    """Move the position and the account's cash by one fill."""
    effect = apply_fill(
        store.get_position(fill.account, fill.symbol),
        fill.side,
        to_decimal(fill.qty),
        to_decimal(fill.price),
        to_decimal(fill.fee),
    )
    store.put_position(fill.account, fill.symbol, effect.position)
    account = store.get_account(fill.account)
    store.put_account(account.with_cash_delta(effect.cash_delta))
    books.invalidate(fill.account)
    activity.touch(fill.account)


def apply_to_order(fill: Fill) -> None:
    """Advance the order's lifecycle and release its reservation."""
    order = store.get_order(fill.account, fill.order_id)
    if order is None:
        metrics.UNKNOWN_ORDER_FILLS.inc()
        log.warning("fill %s for unknown order %s", fill.fill_id, fill.order_id)
        return
    result = lifecycle.transition(order, lifecycle.OrderEvent.FILL, fill.ts, qty=fill.qty)
    if isinstance(result, lifecycle.IllegalTransition):
        metrics.ILLEGAL_TRANSITIONS.labels(result.event.value).inc()
        log.warning("fill %s refused by lifecycle: %s", fill.fill_id, result.message)
        return
    store.save_transition(result)
    if order.order_type in (lifecycle.OrderType.IOC, lifecycle.OrderType.FOK):
        expired = lifecycle.expire_immediate(result.order, fill.ts)
        if isinstance(expired, lifecycle.Transitioned):
            store.save_transition(expired)


def is_new_fill(fill: Fill) -> bool:
    """Record the fill id; return False when it was already applied."""
    key = tables.compound_key(fill.account, fill.fill_id)
    if tables.seen_fills.get(key) is not None:
        metrics.DUPLICATES.labels("fills").inc()
        return False
    tables.seen_fills[key] = fill.ts
    return True


@app.agent(topics.fills)
async def fills(stream: Any) -> None:
    """Apply each fill exactly once to positions, cash and its order."""
    async for event, fill in records(stream, codec.FILL, topics.fills, lambda f: f.account):
        if is_new_fill(fill):
            apply_to_position(fill)
            apply_to_order(fill)
        seen_pruner.tick(event.message.partition, fill.ts)
