"""The durable copy of state: table storage and changelog writes, one call per key.

faust writes a table key through ``Table.__setitem__``: a sensor call, a
``send_soon`` through a single-task buffer, a second RocksDB put for the offset
in the delivery callback, and the partition taken from the current event. The
engine writes each dirty key once per batch, from code that knows the key's
partition, so it uses this narrower path instead (the pattern of Quix Streams'
checkpoint and Kafka Streams' record cache):

* the value goes to the partition's RocksDB (a ``WriteBatch`` per flush),
* one changelog record is produced to the same partition,
* once the flush's records are delivered, the values reach RocksDB together with
  the highest changelog offset of each partition, stored as faust's "persisted
  offset" in the same write, so recovery reads on from there exactly as it does
  for faust's own writes (``redfire.state.unit``).

The values are the same JSON objects faust's ``json`` serializer would store,
so faust's recovery, standby replicas and global-table readers keep working.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from redfire import jsonio

JsonValue = dict[str, Any]
# A staged write: its (key, value or None) items and the sequence ``stage`` gave it.
StagedWrite = tuple[list[tuple[bytes, bytes | None]], int]


def encode_value(value: JsonValue | None) -> bytes | None:
    """Return the bytes faust's ``json`` value serializer would store."""
    if value is None:
        return None
    return jsonio.dumps(value)


def decode_value(raw: bytes | None) -> JsonValue | None:
    if raw is None:
        return None
    value = jsonio.loads(raw)
    return value if isinstance(value, dict) else None


class PartitionStore(Protocol):
    """Where one table keeps its values, partition by partition."""

    def get(self, partition: int, key: bytes) -> bytes | None: ...

    def write(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> None: ...

    def stage(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> int:
        """Make a write visible to reads now; return its sequence number for ``apply``."""
        ...

    def apply(self, partition: int, writes: list[StagedWrite], offset: int | None) -> None:
        """Persist staged writes, in order (their changelog records are delivered), and
        ``offset`` as the partition's persisted changelog offset, in one atomic write."""
        ...

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]: ...


class MemoryPartitionStore:
    """A partitioned dict: the store of in-process tests."""

    def __init__(self) -> None:
        self.data: dict[int, dict[bytes, bytes]] = defaultdict(dict)
        self.offsets: dict[int, int] = {}

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.data[partition].get(key)

    def write(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> None:
        values = self.data[partition]
        for key, value in items:
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value

    def stage(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> int:
        self.write(partition, items)  # nothing survives a crash of an in-process test
        return 0

    def apply(self, partition: int, writes: list[StagedWrite], offset: int | None) -> None:
        if offset is not None:
            self.offsets[partition] = offset

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        yield from list(self.data[partition].items())


@dataclass
class DurableTable:
    """One table: its name, its changelog topic and where its values live."""

    name: str
    changelog_topic: str
    store: PartitionStore
    is_global: bool = False
    # Local reads of keys another worker wrote arrive through the changelog
    # (global tables); the engine mirrors them in memory with this callback.
    on_remote_change: Callable[[str, JsonValue | None], object] | None = field(default=None)

    def get(self, partition: int, key: str) -> JsonValue | None:
        """Return the stored value of ``key`` in ``partition`` (None when absent)."""
        return decode_value(self.store.get(partition, key.encode()))

    def items(self, partition: int) -> Iterator[tuple[str, JsonValue]]:
        """Yield every (key, value) stored in ``partition``."""
        for raw_key, raw_value in self.store.items(partition):
            value = decode_value(raw_value)
            if value is not None:
                yield raw_key.decode(), value
