"""One unit of work per micro-batch: outputs as they are decided, state once, acks last.

An agent handles a batch of events in order against the in-memory
aggregates. Each event's outputs (a decision, a dead letter, an alert) are
sent as soon as that event is handled; the keys the batch changed are
*staged* and written once each at ``commit``, together with their changelog
records; ``commit`` then waits until every record of the batch (outputs and
changelogs) is delivered, and only then may the agent acknowledge the batch's
input offsets. A record that cannot be delivered raises ``DeliveryFailed``:
the agent stops the worker instead of acknowledging, so an input offset is
never committed past an output or a state change that was lost.

Some records must reach the broker before the output they justify — an
order's record (its decision, lifecycle and reservation) before its decision
is published, so that a redelivered order finds its first answer. Those are
written through with ``write_now`` in the order the handler asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from redfire.state.durable import DurableTable, JsonValue, StagedWrite, encode_value

ValueSource = Callable[[], JsonValue | None]
YIELD_EVERY = 256


class Delivered(Protocol):
    """What a delivered record reports (aiokafka's RecordMetadata has it)."""

    @property
    def offset(self) -> int: ...


class Producer(Protocol):
    """Enqueue one record; the returned awaitable resolves once it is delivered."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> Awaitable[Delivered]: ...

    def send_now(self) -> None:
        """Send the records enqueued so far without waiting out the producer's linger."""


class DeliveryFailed(RuntimeError):
    """A record of this unit of work was not delivered: its inputs must not be acked."""


class StaleUnit(RuntimeError):
    """The worker's partitions moved while this unit was open: its writes are dropped.

    A timer's unit (the monitor pass, the pruner) may straddle a rebalance, holding
    aggregates the worker has since dropped and reloaded; writing them would put old
    records over newer ones. Its work is derived and is redone by the next pass of
    whichever worker owns the partition now.
    """


@dataclass(slots=True)
class _Changelog:
    table: DurableTable
    partition: int
    delivery: Awaitable[Delivered]
    offset: int = -1  # once delivered


@dataclass(slots=True)
class _LocalWrite:
    """A write staged in a table's local store, applied once its changelog is delivered."""

    table: DurableTable
    partition: int
    items: list[tuple[bytes, bytes | None]]
    sequence: int


# Local writes reach the stores in the order they were staged, whichever unit's
# deliveries complete first: each unit applies its writes after the one before it.
_last_applied: asyncio.Future[None] | None = None


class UnitOfWork:
    """Collect one batch's staged state and pending deliveries."""

    def __init__(
        self,
        producer: Producer,
        delivery_timeout_s: float,
        epoch: Callable[[], int] | None = None,
    ) -> None:
        self.producer = producer
        self.delivery_timeout_s = delivery_timeout_s
        # The worker state's epoch (moved by every revocation and recovery) when opened.
        self._epoch = epoch
        self._opened_in = None if epoch is None else epoch()
        self._staged: dict[tuple[int, str], tuple[DurableTable, int, ValueSource]] = {}
        self._outputs: list[Awaitable[Delivered]] = []
        self._changelogs: list[_Changelog] = []
        self._local: list[_LocalWrite] = []

    @property
    def pending(self) -> int:
        """Return how many writes and sends this unit holds."""
        return len(self._staged) + len(self._outputs) + len(self._changelogs)

    def stage(self, table: DurableTable, partition: int, key: str, value: ValueSource) -> None:
        """Write ``key`` once at commit, with the value ``value()`` returns then."""
        self._staged[(id(table), key)] = (table, partition, value)

    def read(self, table: DurableTable, partition: int, key: str) -> JsonValue | None:
        """Return ``key`` as this unit will leave it: its staged value, else the stored one."""
        staged = self._staged.get((id(table), key))
        if staged is not None:
            return staged[2]()
        return table.get(partition, key)

    async def write_now(
        self, table: DurableTable, partition: int, key: str, value: JsonValue | None
    ) -> None:
        """Write ``key`` now, ahead of the outputs sent after it."""
        self._staged.pop((id(table), key), None)
        await self._write(table, partition, key, value)

    async def emit(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        """Send one output record now; it must be delivered before the batch is acked."""
        self._outputs.append(await self.producer.send(topic, key, value, partition))

    def send_now(self) -> None:
        """Send what this unit enqueued (and whatever else waits) without the linger."""
        self.producer.send_now()

    async def commit(self) -> None:
        """Write every staged key once, then wait until everything is delivered.

        Raise ``DeliveryFailed`` when a record fails or is not delivered within
        the delivery timeout; the caller must then not acknowledge the batch.
        """
        delivered = await self.flush()
        await delivered

    async def flush(self) -> Awaitable[None]:
        """Write every staged key once and send its changelog; return the wait for delivery.

        The returned awaitable resolves once every record of this unit (outputs
        and changelogs) is delivered, or raises ``DeliveryFailed``. An agent
        hands it to its batch runner, which acknowledges the batch's inputs only
        then, and meanwhile goes on with the next batch.
        """
        staged, self._staged = self._staged, {}
        if self._epoch is not None and self._epoch() != self._opened_in:
            dropped = len(staged)
            raise StaleUnit(f"partitions moved since this unit opened; {dropped} writes dropped")
        # One local write batch per table partition, then one changelog record per key.
        writes: dict[tuple[int, int], tuple[DurableTable, list[tuple[bytes, bytes | None]]]] = {}
        for (table_id, key), (table, partition, value) in staged.items():
            slot = writes.get((table_id, partition))
            if slot is None:
                slot = writes[(table_id, partition)] = (table, [])
            slot[1].append((key.encode(), encode_value(value())))
        sent = 0
        for (_table_id, partition), (table, items) in writes.items():
            self._stage_local(table, partition, items)
            for raw_key, raw_value in items:
                await self._send_changelog(table, partition, raw_key, raw_value)
                sent += 1
                if sent % YIELD_EVERY == 0:  # a long flush must not hold up an order
                    await asyncio.sleep(0)
        changelogs, self._changelogs = self._changelogs, []
        outputs, self._outputs = self._outputs, []
        local, self._local = self._local, []
        global _last_applied
        previous, applied = _last_applied, asyncio.get_running_loop().create_future()
        _last_applied = applied
        return self._await_deliveries(changelogs, outputs, local, previous, applied)

    def _stage_local(
        self, table: DurableTable, partition: int, items: list[tuple[bytes, bytes | None]]
    ) -> None:
        sequence = table.store.stage(partition, items)
        self._local.append(_LocalWrite(table, partition, items, sequence))

    async def _write(
        self, table: DurableTable, partition: int, key: str, value: JsonValue | None
    ) -> None:
        raw_key = key.encode()
        raw_value = encode_value(value)
        self._stage_local(table, partition, [(raw_key, raw_value)])
        await self._send_changelog(table, partition, raw_key, raw_value)

    async def _send_changelog(
        self, table: DurableTable, partition: int, raw_key: bytes, raw_value: bytes | None
    ) -> None:
        delivery = await self.producer.send(table.changelog_topic, raw_key, raw_value, partition)
        self._changelogs.append(_Changelog(table, partition, delivery))

    async def _await_deliveries(
        self,
        changelogs: list[_Changelog],
        outputs: list[Awaitable[Delivered]],
        local: list[_LocalWrite],
        previous: asyncio.Future[None] | None,
        applied: asyncio.Future[None],
    ) -> None:
        try:
            await self._deliver(changelogs, outputs)
            if previous is not None:
                await asyncio.shield(previous)
            apply_local(local, changelogs)
        finally:
            if not applied.done():
                applied.set_result(None)

    async def _deliver(
        self, changelogs: list[_Changelog], outputs: list[Awaitable[Delivered]]
    ) -> None:
        if not changelogs and not outputs:
            return
        pending = [c.delivery for c in changelogs] + outputs
        try:
            # In turn, not gathered: a produce answer settles a whole batch of records, so
            # after the first wait the rest are done and cost no callback and no loop turn.
            async with asyncio.timeout(self.delivery_timeout_s):
                results = [await delivery for delivery in pending]
        except TimeoutError as exc:
            quiet_failures(pending)
            raise DeliveryFailed(
                f"{len(pending)} records not delivered within {self.delivery_timeout_s:.0f} s "
                "(REDFIRE_DELIVERY_TIMEOUT_S); is a partition without a leader?"
            ) from exc
        except Exception as exc:
            quiet_failures(pending)
            raise DeliveryFailed(f"a record could not be delivered: {exc!r}") from exc
        for changelog, result in zip(changelogs, results[: len(changelogs)], strict=True):
            changelog.offset = int(result.offset)


def quiet_failures(pending: list[Awaitable[Delivered]]) -> None:
    """Mark every delivery's failure as seen once it comes: the unit reports one for all,
    and asyncio would log each unseen one when it is collected."""
    for delivery in pending:
        if isinstance(delivery, asyncio.Future):
            delivery.add_done_callback(_seen)


def _seen(delivery: asyncio.Future[Delivered]) -> None:
    if not delivery.cancelled():
        delivery.exception()


def apply_local(local: list[_LocalWrite], changelogs: list[_Changelog]) -> None:
    """Apply a unit's local writes, in order, one batch per table partition, each with the
    partition's highest delivered changelog offset (faust's "persisted offset"): the values
    and the offset recovery reads on from reach the store in one atomic write. Every
    changelog record goes with a local write of its table partition (``_write``, ``flush``),
    so every offset has its batch."""
    offsets = highest_offsets(changelogs)
    grouped: dict[tuple[int, int], tuple[DurableTable, int, list[StagedWrite]]] = {}
    for write in local:
        slot = (id(write.table), write.partition)
        found = grouped.get(slot)
        if found is None:
            found = grouped[slot] = (write.table, write.partition, [])
        found[2].append((write.items, write.sequence))
    for slot, (table, partition, writes) in grouped.items():
        table.store.apply(partition, writes, offsets.get(slot))


def highest_offsets(changelogs: list[_Changelog]) -> dict[tuple[int, int], int]:
    """Return the highest delivered changelog offset of each table partition."""
    highest: dict[tuple[int, int], int] = {}
    for changelog in changelogs:
        slot = (id(changelog.table), changelog.partition)
        highest[slot] = max(highest.get(slot, -1), changelog.offset)
    return highest
