"""The storage behind a faust table, partition by partition, for the engine's write path.

faust's RocksDB store keeps one database per partition and reads the
partition of a write from the current event; the engine writes a batch's keys
after the batch, knowing each key's partition, so it goes to the partition's
database directly (a ``WriteBatch`` per flush) and records the changelog offset
as faust's delivery callback would (``set_persisted_offset``), in the same batch:
the values and the offset recovery reads on from are never stored apart. The
``memory://`` store has no partitions: it is one dict, filtered by key owner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import rocksdict
from faust.types import TP, CollectionT

from redfire.state.durable import StagedWrite


class FaustPartitionStore:
    """Read and write one faust table's local store by partition.

    A write is *staged* first (reads see it at once) and reaches the local store only
    once its changelog record is delivered (``apply``): after a SIGKILL the local store
    never holds a value the changelog lacks, so the worker's own store and a standby's
    or another worker's copy, rebuilt from the changelog, agree.
    """

    def __init__(self, table: CollectionT, partition_of: Callable[[str], int]) -> None:
        self.table = table
        self.partition_of = partition_of
        # Staged values by partition and key, with the sequence number of their write.
        self._staged: dict[int, dict[bytes, tuple[int, bytes | None]]] = {}
        self._sequence = 0

    def stage(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> int:
        """Make ``items`` visible to reads now; return the write's sequence number."""
        self._sequence += 1
        staged = self._staged.setdefault(partition, {})
        for key, value in items:
            staged[key] = (self._sequence, value)
        return self._sequence

    def apply(self, partition: int, writes: list[StagedWrite], offset: int | None) -> None:
        """Write staged writes to the local store, in order, as one batch (their changelog
        records are delivered): one RocksDB write for a unit's many orders, not one each,
        which also stores ``offset`` as the persisted changelog offset when given."""
        self.write(partition, [item for items, _sequence in writes for item in items], offset)
        staged = self._staged.get(partition)
        if staged is None:
            return
        for items, sequence in writes:
            for key, _value in items:
                current = staged.get(key)
                if current is not None and current[0] == sequence:
                    del staged[key]

    @property
    def _store(self) -> Any:
        return self.table.data  # type: ignore[attr-defined]

    @property
    def _is_rocksdb(self) -> bool:
        return hasattr(self._store, "_db_for_partition")

    def get(self, partition: int, key: bytes) -> bytes | None:
        staged = self._staged.get(partition)
        if staged is not None and key in staged:
            return staged[key][1]
        store = self._store
        if self._is_rocksdb:
            value: bytes | None = store._db_for_partition(partition).get(key)
            return value
        raw: bytes | None = store.data.get(key)
        return raw

    def write(
        self, partition: int, items: list[tuple[bytes, bytes | None]], offset: int | None = None
    ) -> None:
        store = self._store
        if not self._is_rocksdb:
            for key, value in items:
                if value is None:
                    store.data.pop(key, None)
                else:
                    store.data[key] = value
            if offset is not None:
                self.persist_offset(partition, offset)
            return
        batch = rocksdict.WriteBatch(raw_mode=True)
        if offset is not None:
            # faust's set_persisted_offset, in the same batch as the values it covers.
            batch.put(store.offset_key, str(offset).encode())
        for key, value in items:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
                # faust's own lookups (global tables, views) find the key's partition here.
                store._key_index[key] = partition
        store._db_for_partition(partition).write(batch)

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        staged = dict(self._staged.get(partition, {}))
        for key, value in self._stored_items(partition):
            if key not in staged:
                yield key, value
        for key, (_sequence, staged_value) in staged.items():
            if staged_value is not None:
                yield key, staged_value

    def _stored_items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        store = self._store
        if self._is_rocksdb:
            yield from store._visible_items(store._db_for_partition(partition))
            return
        for key, value in list(store.data.items()):
            if self.partition_of(key.decode().partition("|")[0]) == partition:
                yield key, value

    def persist_offset(self, partition: int, offset: int) -> None:
        topic = self.table.changelog_topic.get_topic_name()
        self._store.set_persisted_offset(TP(topic, partition), offset)
