"""Fill agent: executions → positions, cash, PnL and the order lifecycle.

Exactly-once in effect under at-least-once delivery:

* a fill id seen before at another offset is a duplicate and is ignored;
* a record seen again at the same offset is a redelivery (after a crash), and is
  applied to each record it changes only if that record's watermark (the offset
  of the last fill applied to it) is older — tables restored from their
  changelogs after a crash may be at different points, and this puts each one
  exactly where the fill stream says it should be.

Fills for orders RedFire never saw still move positions (the gateway is the
source of truth) and are counted.
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


def apply_to_position(fill: Fill, offset: int) -> None:
    """Move the position and the account's cash by one fill, each at most once."""
    position, position_offset = store.get_position_and_offset(fill.account, fill.symbol)
    effect = apply_fill(
        position,
        fill.side,
        to_decimal(fill.qty),
        to_decimal(fill.price),
        to_decimal(fill.fee),
    )
    if position_offset < offset:
        store.put_position(fill.account, fill.symbol, effect.position, offset)
    account = store.get_account(fill.account)
    if account.fill_offset < offset:
        store.put_account(account.with_fill(effect.cash_delta, offset))
    books.invalidate(fill.account)
    activity.touch(fill.account)


def apply_to_order(fill: Fill, offset: int) -> None:
    """Advance the order's lifecycle and release its reservation, at most once per fill."""
    order = store.get_order(fill.account, fill.order_id)
    if order is not None and store.order_fill_offset(fill.account, fill.order_id) >= offset:
        return
    if order is None:
        metrics.UNKNOWN_ORDER_FILLS.inc()
        log.warning("fill %s for unknown order %s", fill.fill_id, fill.order_id)
        return
    result = lifecycle.transition(order, lifecycle.OrderEvent.FILL, fill.ts, qty=fill.qty)
    if isinstance(result, lifecycle.IllegalTransition):
        metrics.ILLEGAL_TRANSITIONS.labels(result.event.value).inc()
        log.warning("fill %s refused by lifecycle: %s", fill.fill_id, result.message)
        return
    store.save_transition(result, offset)
    if order.order_type in (lifecycle.OrderType.IOC, lifecycle.OrderType.FOK):
        expired = lifecycle.expire_immediate(result.order, fill.ts)
        if isinstance(expired, lifecycle.Transitioned):
            store.save_transition(expired, offset)


def is_duplicate(fill: Fill, offset: int) -> bool:
    """Return True when this fill id was first seen at another offset; else record it."""
    key = tables.compound_key(fill.account, fill.fill_id)
    seen = tables.seen_fills.get(key)
    if seen is None:
        tables.seen_fills[key] = {"ts": fill.ts, "offset": offset}
        return False
    if seen["offset"] != offset:
        metrics.DUPLICATES.labels("fills").inc()
        return True
    return False


@app.agent(topics.fills)
async def fills(stream: Any) -> None:
    """Apply each fill exactly once to positions, cash and its order."""
    async for event, fill in records(stream, codec.FILL, topics.fills, lambda f: f.account):
        offset = event.message.offset
        if not is_duplicate(fill, offset):
            apply_to_position(fill, offset)
            apply_to_order(fill, offset)
        seen_pruner.tick(event.message.partition, fill.ts)
