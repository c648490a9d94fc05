"""Turn raw input records into validated ones; dead-letter or re-key the rest.

Decode failures are values from the codec. A record on the wrong partition for
its account or symbol (or whose key disagrees with its body) is forwarded,
re-keyed, to the partition that owns it and not processed here. Counts are
kept per batch and added to the Prometheus counters once per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faust.types import EventT

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.schemas import codec
from redfire.schemas.records import DeadLetter
from redfire.state.unit import DeliveryFailed, UnitOfWork
from redfire.streams.partitioning import partition_for

T = TypeVar("T")
log = logging.getLogger(__name__)
PROCESSING_ERROR = "processing_error"
# A dead letter must fit in one Kafka record (1 MiB by default) whatever it carries: the
# base64 of a 1 MB input would not, and the failed send would stop the worker.
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    """One input record as it came off its topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The Kafka record's timestamp in seconds since the epoch (None where a test makes one).
    timestamp: float | None = None

    @classmethod
    def of(cls, event: EventT[Any]) -> Envelope:
        message = event.message
        value = message.value if isinstance(message.value, bytes) else None
        key = message.key if isinstance(message.key, bytes) or message.key is None else None
        return cls(message.topic, message.partition, message.offset, key, value, message.timestamp)

    def key_text(self) -> str | None:
        """Return the key as text, or None when there is none or it is not UTF-8."""
        if self.key is None:
            return None
        try:
            return self.key.decode()
        except UnicodeDecodeError:
            return None


# What a desk does with one valid record of its topic (sync, or async when it emits).
RecordHandler = Callable[[T, Envelope], Awaitable[None] | None]
# Decodes a record that may hold several (a batch): every item, or one failure for all.
BatchDecoder = Callable[[bytes | None, codec.Limits], codec.Batch[T] | codec.DecodeFailure]
# Let other agents (orders first) run between slices of a long batch.
YIELD_EVERY = 200


class Intake(Generic[T]):
    """Decode one input topic's records and route the ones that belong elsewhere."""

    def __init__(
        self,
        ctx: AgentContext,
        kind: codec.RecordKind[T],
        owner: Callable[[T], str],
        batches: BatchDecoder[T] | None = None,
    ) -> None:
        self.ctx = ctx
        self.kind = kind
        self.owner = owner
        self.batches = batches
        self.limits = ctx.limits
        self.partitions = ctx.settings.partitions
        self.counts: Counter[tuple[str, str]] = Counter()
        self.dead: Counter[tuple[str, str]] = Counter()

    async def process(
        self, envelopes: Sequence[Envelope], uow: UnitOfWork, handle: RecordHandler[T]
    ) -> None:
        """Hand every valid record of the batch to ``handle``, in order.

        A record whose handling raises is dead-lettered with the error (reason
        ``processing_error``) and the batch goes on: one poison record never
        stops an agent or loses the rest of its batch. An undeliverable write
        (``DeliveryFailed``) is not a record's fault and stops the batch.
        """
        for index, envelope in enumerate(envelopes):
            for record in await self.read_all(envelope, uow):
                try:
                    pending = handle(record, envelope)
                    if pending is not None:
                        await pending
                except DeliveryFailed:
                    raise
                except Exception as exc:  # a bug met by one record: keep it, go on
                    log.exception("%s offset %d: handling failed", envelope.topic, envelope.offset)
                    error = f"{type(exc).__name__}: {exc}"
                    await self.dead_letter(envelope, uow, PROCESSING_ERROR, error)
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    async def read_all(self, envelope: Envelope, uow: UnitOfWork) -> list[T]:
        """Return the records of ``envelope`` owned here (a batch record may hold many).

        In a batch, each item is checked on its own: a bad one is dead-lettered
        (the error names its position), one owned by another partition is
        forwarded there as a record of its own.
        """
        if self.batches is None:
            single = await self.read(envelope, uow)
            return [] if single is None else [single]
        decoded = self.batches(envelope.value, self.limits)
        if isinstance(decoded, codec.DecodeFailure):
            await self.dead_letter(envelope, uow, decoded.reason, decoded.error)
            return []
        if not decoded.is_batch:
            single = await self.read(envelope, uow, decoded.items[0])
            return [] if single is None else [single]
        owned: list[T] = []
        for item in decoded.items:
            if isinstance(item, codec.DecodeFailure):
                await self.dead_letter(envelope, uow, item.reason, item.error)
                continue
            key = self.owner(item)
            partition = partition_for(key, self.partitions)
            if partition != envelope.partition:
                await uow.emit(envelope.topic, key.encode(), codec.encode_json(item), partition)
                self.counts[(envelope.topic, "rekeyed")] += 1
                continue
            self.counts[(envelope.topic, "accepted")] += 1
            owned.append(item)
        return owned

    async def read(
        self, envelope: Envelope, uow: UnitOfWork, decoded: T | codec.DecodeFailure | None = None
    ) -> T | None:
        """Return the record if it is valid and owned here; else dead-letter or forward it."""
        record: T | codec.DecodeFailure
        if decoded is None:
            record = codec.decode(envelope.value, self.kind, self.limits)
        else:
            record = decoded
        if isinstance(record, codec.DecodeFailure):
            await self.dead_letter(envelope, uow, record.reason, record.error)
            return None
        key = self.owner(record)
        partition = partition_for(key, self.partitions)
        if envelope.partition != partition or envelope.key_text() != key:
            await uow.emit(envelope.topic, key.encode(), envelope.value or b"", partition)
            self.counts[(envelope.topic, "rekeyed")] += 1
            return None
        self.counts[(envelope.topic, "accepted")] += 1
        return record

    async def dead_letter(
        self, envelope: Envelope, uow: UnitOfWork, reason: str, error: str
    ) -> None:
        """Publish the original bytes of ``envelope`` to dead_letters with the reason.

        A payload over DEAD_LETTER_PAYLOAD_BYTES is cut to that, and the error says so.
        """
        payload = envelope.value or b""
        if len(payload) > DEAD_LETTER_PAYLOAD_BYTES:
            kept = DEAD_LETTER_PAYLOAD_BYTES
            error = f"{error} (payload cut to its first {kept} of {len(payload)} bytes)"
            payload = payload[:DEAD_LETTER_PAYLOAD_BYTES]
        letter = DeadLetter(
            topic=envelope.topic,
            partition=envelope.partition,
            offset=envelope.offset,
            error=error,
            payload=payload,
            ts=self.ctx.clock(),
            key=envelope.key_text(),
            reason=reason,
        )
        await uow.emit(
            self.ctx.names.dead_letters, envelope.key, self.ctx.encode(letter, "dead_letter")
        )
        self.dead[(envelope.topic, reason)] += 1
        self.counts[(envelope.topic, "dead_letter")] += 1

    def publish_counts(self) -> None:
        """Add this batch's counts to the Prometheus counters."""
        for (topic, outcome), count in self.counts.items():
            metrics.EVENTS.labels(topic, outcome).inc(count)
        for (topic, reason), count in self.dead.items():
            metrics.DEAD_LETTERS.labels(topic, reason).inc(count)
        self.counts.clear()
        self.dead.clear()
