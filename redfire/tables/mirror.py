"""Decoded in-memory copies of hot global tables (prices, return windows, limits).

The order agent reads these for every order, so it must not pay a RocksDB read
and a JSON decode each time. A mirror is filled three ways: local writes go
through ``set``; writes by other workers arrive as changelog events; a key not
yet seen (e.g. restored from RocksDB without a changelog replay) is read once
from the table. ``version`` tells callers that a key changed.

A worker also reads its own writes back from a global table's changelog, late
and in order, so a changelog record older than the mirrored value (by the
value's own ``order``, e.g. a tick timestamp) is ignored: the mirror never
goes back in time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from faust.types import EventT

V = TypeVar("V")


class Mirror(Generic[V]):
    def __init__(self, name: str, decode: Callable[[Any], V], order: Callable[[V], Any]) -> None:
        self.name = name
        self.decode = decode
        self.order = order
        self.table: Mapping[str, Any] | None = None
        self._values: dict[str, V] = {}
        self._versions: dict[str, int] = {}
        self.generation = 0

    def attach(self, table: Mapping[str, Any]) -> None:
        """Read misses from ``table``."""
        self.table = table

    def get(self, key: str) -> V | None:
        """Return the decoded value of ``key``, or None when the table has none."""
        value = self._values.get(key)
        if value is None and self.table is not None:
            raw = self.table.get(key)
            if raw is not None:
                value = self._store(key, raw)
        return value

    def version(self, key: str) -> int:
        """Return a number that changes whenever ``key`` changes."""
        return self._versions.get(key, 0)

    def set(self, key: str, raw: Any) -> V | None:
        """Record a local write of ``raw`` (the table value) under ``key``."""
        if raw is None:
            self._values.pop(key, None)
            self._bump(key)
            return None
        return self._store(key, raw)

    async def on_changelog_event(self, event: EventT[Any]) -> None:
        """Apply a changelog record written by any worker."""
        key = event.key
        if isinstance(key, bytes):
            key = key.decode()
        key = str(key)
        current = self._values.get(key)
        if event.value is None or current is None:
            self.set(key, event.value)
            return
        value = self.decode(event.value)
        if self.order(value) >= self.order(current):
            self._values[key] = value
            self._bump(key)

    def _store(self, key: str, raw: Any) -> V:
        value = self.decode(raw)
        self._values[key] = value
        self._bump(key)
        return value

    def _bump(self, key: str) -> None:
        self.generation += 1
        self._versions[key] = self.generation
