"""Forget idempotency records older than REDFIRE_SEEN_RETENTION_S, a slice at a time.

Age is measured in event time: against the newest fill, order or command this
worker has processed.

Fill markers, command markers and the records of finished orders are kept so
that a redelivered record is recognised; past the retention they are only
weight. Their changelogs already expire them (``compact,delete``); this pass
deletes them from the local store too, on the partitions this worker owns,
reading the store in slices and yielding between slices so that it never holds
the event loop for long. Live orders are never pruned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import islice
from typing import Any

from redfire.risk.lifecycle import is_terminal
from redfire.state.durable import DurableTable, JsonValue
from redfire.state.records import OrderRecord
from redfire.state.unit import StaleUnit, UnitOfWork
from redfire.state.worker import WorkerState

SLICE = 500
Stale = Callable[[JsonValue, int], bool]


def marker_is_stale(value: JsonValue, horizon_ms: int) -> bool:
    """A fill or command marker: stale once its first-seen time is past the horizon."""
    return int(value.get("ts", 0)) < horizon_ms


def order_is_stale(value: JsonValue, horizon_ms: int) -> bool:
    """A finished order: stale once its last change and last decision are past the horizon."""
    record = OrderRecord.from_dict(value)
    order = record.order
    if order is not None and not is_terminal(order):
        return False
    last = max(record.decisions, default=0)
    if order is not None:
        last = max(last, order.ts_updated)
    return last < horizon_ms


class Pruner:
    """Delete stale idempotency records of the owned partitions."""

    def __init__(
        self, state: WorkerState, unit: Callable[[], UnitOfWork], retention_ms: int
    ) -> None:
        self.state = state
        self.unit = unit
        self.retention_ms = retention_ms

    async def run(self) -> int:
        """Prune every owned account partition; return how many records were deleted."""
        deleted = 0
        for partition in sorted(self.state.account_partitions):
            deleted += await self.prune_partition(partition)
        return deleted

    async def prune_partition(self, partition: int) -> int:
        # Event time, not the wall clock: a replay of old records keeps its markers.
        horizon = self.state.latest_event_ms - self.retention_ms
        if horizon <= 0:
            return 0
        tables = self.state.tables
        deleted = 0
        for table, stale in (
            (tables.seen_fills, marker_is_stale),
            (tables.seen_commands, marker_is_stale),
            (tables.orders, order_is_stale),
        ):
            deleted += await self.prune(table, partition, stale, horizon)
        return deleted

    async def prune(
        self, table: DurableTable, partition: int, stale: Stale, horizon_ms: int
    ) -> int:
        uow = self.unit()
        items = table.items(partition)
        deleted = 0
        while chunk := list(islice(items, SLICE)):
            for key, value in chunk:
                if stale(value, horizon_ms):
                    uow.stage(table, partition, key, _deleted)
                    deleted += 1
            await asyncio.sleep(0)
            if partition not in self.state.account_partitions:
                return 0  # revoked while we yielded: its new owner prunes it
        try:
            await uow.commit()
        except StaleUnit:
            return 0  # partitions moved meanwhile: the next run prunes what is still stale
        return deleted


def _deleted() -> Any:
    return None
