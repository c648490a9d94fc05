"""Where a key belongs: Kafka's default (Java murmur2) partitioner."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=65536)
def partition_for(key: str, partitions: int) -> int:
    """Return the partition Kafka's Java client would choose for ``key``."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)
