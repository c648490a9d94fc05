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

Cash moves in the instrument's currency (a US stock bought by a CNY account
spends USD). A fill of a T+1 instrument also moves the position's T+1 state
(start-of-day quantity, today's sells) on its market's trading day.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope, Intake
from redfire.logs import ThrottledWarning
from redfire.risk import lifecycle
from redfire.risk.positions import apply_fill, to_decimal
from redfire.risk.settlement import DayPosition, apply_fill_to_day
from redfire.schemas import codec
from redfire.schemas.records import Fill
from redfire.state.account import AccountAggregate
from redfire.state.records import PositionEntry
from redfire.state.unit import UnitOfWork, ValueSource
from redfire.state.worker import compound_key

log = logging.getLogger(__name__)


class FillDesk:
    """Apply fills to positions, cash and orders, each at most once."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.intake: Intake[Fill] = Intake(ctx, codec.FILL, lambda fill: fill.account)
        # Per fill, and counted by their metrics: logged at most once per interval each.
        self.warn_unknown_order = ThrottledWarning(log)
        self.warn_refused = ThrottledWarning(log)

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        uow = self.ctx.unit()
        await self.intake.process(
            envelopes, uow, lambda fill, envelope: self.apply(fill, envelope.offset, uow)
        )
        delivered = await uow.flush()
        self.intake.publish_counts()
        return delivered

    def apply(self, fill: Fill, offset: int, uow: UnitOfWork) -> None:
        """Apply one fill unless it is a duplicate of a fill seen at another offset."""
        account = self.state.account(fill.account)
        self.state.saw_event(fill.ts)
        if self.is_duplicate(account, fill, offset, uow):
            metrics.DUPLICATES.labels("fills").inc()
            return
        self.apply_to_position(account, fill, offset, uow)
        self.apply_to_order(account, fill, offset, uow)
        account.touch()

    def is_duplicate(
        self, account: AccountAggregate, fill: Fill, offset: int, uow: UnitOfWork
    ) -> bool:
        """Return True when this fill id was first seen at another offset; else record it."""
        table = self.state.tables.seen_fills
        key = compound_key(fill.account, fill.fill_id)
        seen = uow.read(table, account.partition, key)
        if seen is None:
            value = {"ts": fill.ts, "offset": offset}
            uow.stage(table, account.partition, key, lambda: value)
            return False
        return int(seen["offset"]) != offset

    def apply_to_position(
        self, account: AccountAggregate, fill: Fill, offset: int, uow: UnitOfWork
    ) -> None:
        """Move the position and the account's cash by one fill, each at most once."""
        entry = account.position(fill.symbol)
        effect = apply_fill(
            entry.position,
            fill.side,
            to_decimal(fill.qty),
            to_decimal(fill.price),
            to_decimal(fill.fee),
        )
        tables = self.state.tables
        instrument = self.state.market.resolve(fill.symbol).instrument
        if entry.fill_offset < offset:
            day = self.day_after(entry, fill)
            account.set_position(fill.symbol, PositionEntry(effect.position, offset, day))
            key = compound_key(fill.account, fill.symbol)
            uow.stage(tables.positions, account.partition, key, _position_value(account, fill))
        record = account.record
        if record.fill_offset < offset:
            account.add_cash(instrument.currency, effect.cash_delta)
            record.fill_offset = offset
            uow.stage(tables.accounts, account.partition, account.name, account.account_value)

    def day_after(self, entry: PositionEntry, fill: Fill) -> DayPosition | None:
        """Return the position's T+1 state after ``fill`` (None for instruments without T+1)."""
        market = self.state.market
        instrument = market.resolve(fill.symbol).instrument
        if not instrument.t_plus_one:
            return entry.day
        day = market.trading_day(instrument, fill.ts)
        before = float(entry.position.qty)
        return apply_fill_to_day(entry.day, day, fill.side, float(fill.qty), before)

    def apply_to_order(
        self, account: AccountAggregate, fill: Fill, offset: int, uow: UnitOfWork
    ) -> None:
        """Advance the order's lifecycle (releasing its reservation), at most once per fill."""
        record = self.state.order_record(account, fill.order_id)
        if record is None or record.order is None:
            metrics.UNKNOWN_ORDER_FILLS.inc()
            self.warn_unknown_order("fill %s for unknown order %s", fill.fill_id, fill.order_id)
            return
        if record.fill_offset >= offset:
            return
        event = lifecycle.OrderEvent.FILL
        result = lifecycle.transition(record.order, event, fill.ts, qty=fill.qty)
        if isinstance(result, lifecycle.IllegalTransition):
            metrics.ILLEGAL_TRANSITIONS.labels(result.event.value).inc()
            self.warn_refused("fill %s refused by lifecycle: %s", fill.fill_id, result.message)
            return
        order = result.order
        if order.order_type in (lifecycle.OrderType.IOC, lifecycle.OrderType.FOK):
            expired = lifecycle.expire_immediate(order, fill.ts)
            if isinstance(expired, lifecycle.Transitioned):
                order = expired.order
        updated = replace(record, order=order, fill_offset=offset)
        account.put_order(updated)
        key = compound_key(account.name, fill.order_id)
        uow.stage(self.state.tables.orders, account.partition, key, updated.to_dict)


def _position_value(account: AccountAggregate, fill: Fill) -> ValueSource:
    symbol = fill.symbol
    return lambda: account.position_value(symbol)
