"""Turn a raw topic stream into validated records, dead-lettering bad ones.

Decode failures are values from the codec, so no agent loop needs a bare
``except``. A record on the wrong partition for its account or symbol is
forwarded, re-keyed, to the right one and not processed here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from faust.types import EventT, StreamT, TopicT

from redfire import metrics
from redfire.app import settings
from redfire.schemas import codec
from redfire.schemas.records import DeadLetter
from redfire.streams import topics
from redfire.streams.partitioning import partition_for

T = TypeVar("T")
LIMITS = codec.Limits(settings.max_record_bytes, settings.max_abs_qty, settings.max_price)
# A dead letter must fit in one Kafka record (1 MiB by default) whatever it carries: the
# base64 of a 1 MB input would not, and the failed send would crash the agent in a loop.
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds (only for output stamps)."""
    return time.time_ns() // 1_000_000


def encode_output(record: object, schema_name: str) -> bytes:
    """Encode an output record in the configured wire format."""
    if settings.output_format == "avro":
        return codec.encode_avro(record, schema_name)
    return codec.encode_json(record)


def key_text(event: EventT[Any]) -> str | None:
    """Return the record key as text, or None when it has none or is not UTF-8."""
    key = event.message.key
    if key is None:
        return None
    try:
        return key.decode() if isinstance(key, bytes) else str(key)
    except UnicodeDecodeError:
        return None


async def dead_letter(event: EventT[Any], reason: str, error: str) -> None:
    """Publish the original bytes of ``event`` to dead_letters with the reason."""
    message = event.message
    topic_name = message.topic
    payload = message.value if isinstance(message.value, bytes) else b""
    if len(payload) > DEAD_LETTER_PAYLOAD_BYTES:
        kept = DEAD_LETTER_PAYLOAD_BYTES
        error = f"{error} (payload cut to its first {kept} of {len(payload)} bytes)"
        payload = payload[:DEAD_LETTER_PAYLOAD_BYTES]
    letter = DeadLetter(
        topic=topic_name,
        partition=message.partition,
        offset=message.offset,
        error=error,
        payload=payload,
        ts=now_ms(),
        key=key_text(event),
        reason=reason,
    )
    await topics.dead_letters.send(key=message.key, value=encode_output(letter, "dead_letter"))
    metrics.DEAD_LETTERS.labels(topic_name, reason).inc()
    metrics.EVENTS.labels(topic_name, "dead_letter").inc()


async def forward_to_owner(event: EventT[Any], topic: TopicT, key: str, partition: int) -> None:
    """Re-send ``event`` keyed by ``key`` to the partition that owns it."""
    await topic.send(key=key.encode(), value=event.message.value, partition=partition)
    metrics.EVENTS.labels(event.message.topic, "rekeyed").inc()


async def records(
    stream: StreamT[Any],
    kind: codec.RecordKind[T],
    topic: TopicT,
    owner: Callable[[T], str],
) -> AsyncIterator[tuple[EventT[Any], T]]:
    """Yield (event, record) for every valid record owned by this partition."""
    async for event in stream.events():
        record = codec.decode(event.message.value, kind, LIMITS)
        if isinstance(record, codec.DecodeFailure):
            await dead_letter(event, record.reason, record.error)
            continue
        key = owner(record)
        partition = partition_for(key, settings.partitions)
        if event.message.partition != partition or key_text(event) != key:
            await forward_to_owner(event, topic, key, partition)
            continue
        metrics.EVENTS.labels(event.message.topic, "accepted").inc()
        yield event, record
