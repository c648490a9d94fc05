"""Keep CPython's cyclic garbage collector off the order path.

A collection of the oldest generation walks every object the collector
tracks. With a worker's state in memory (aggregates, return windows, order
records) one took 100-120 ms on the bench machine, several times in a row
while state grew, and every decision waiting meanwhile was late by as much:
they were the tails of ``bench/bench_latency.py``.

State loaded by a recovery lives as long as the worker owns its partitions,
so at the first check after each recovery (within a second; not in the
recovery itself, which a restart waits for) the heap is collected once and
frozen (``gc.freeze``: moved out of every later collection's walk). While the
worker runs, what it kept since is collected and frozen every
``REDFIRE_GC_FREEZE_S``, a walk over only the objects made since the last
freeze; and at the next check (every second) after a slow collection of the
oldest generation, as while a worker loads much state at once. A revocation
unfreezes everything and collects once, so the state it drops is not kept
for the life of the process, then freezes the rest again. The heap the
imports built is frozen when the worker starts, before it joins its group:
faust's RocksDB store runs a full collection per table on every rebalance
(15 of 50-100 ms each at the first join otherwise), and again when the worker
stops (the store runs them at shutdown too). 0 turns freezing off
(CPython's own schedule, full walks included).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from redfire import metrics

log = logging.getLogger(__name__)


class Heap:
    """Freeze the worker's long-lived objects; time every collection."""

    def __init__(self, freeze_interval_s: float) -> None:
        self.enabled = freeze_interval_s > 0
        self.interval_s = freeze_interval_s
        self._started = 0.0
        self._frozen_at = time.monotonic()
        self._slow_full_collection = False
        self._recovered = False
        # One histogram child per generation, found once: a callback runs per collection.
        self._pauses = [metrics.GC_PAUSE.labels(str(g)) for g in range(OLDEST + 1)]

    def install(self) -> None:
        """Time every collection on ``redfire_gc_pause_seconds``."""
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def freeze_soon(self) -> None:
        """Freeze at the next check: a recovery has just loaded state."""
        self._recovered = True

    def maybe_freeze(self) -> None:
        """Freeze when the interval has passed, after a recovery, or after a slow full
        collection."""
        due = time.monotonic() - self._frozen_at >= self.interval_s
        if due or self._recovered or self._slow_full_collection:
            self.freeze()

    def freeze(self) -> None:
        """Collect what is garbage now, then move every survivor out of later walks."""
        if not self.enabled:
            return
        gc.collect()
        # What this freeze moves: the objects not frozen yet (gc.get_freeze_count would
        # walk every frozen object, 20 ms at a worker's size, on the loop).
        moved = len(gc.get_objects())
        gc.freeze()
        self._frozen_at = time.monotonic()
        self._slow_full_collection = self._recovered = False
        metrics.GC_FROZEN.set(moved)

    def refreeze(self) -> None:
        """Collect everything once, frozen objects too, and freeze what survives.

        For a revocation: the state it drops is collected (cycles included), and the
        collections faust's RocksDB store runs on every rebalance, one per table, walk
        only what is made after this instead of the whole heap (50-100 ms each).
        """
        if not self.enabled:
            return
        gc.unfreeze()
        self.freeze()

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self._pauses[generation].observe(pause)
        if pause > SLOW_COLLECTION_S and generation == OLDEST:
            self._slow_full_collection = True
            log.info("a full garbage collection took %.0f ms; freezing soon", pause * 1000)


# A collection this long delays every event waiting behind it noticeably.
SLOW_COLLECTION_S = 0.02
OLDEST = 2
# How often the worker checks whether a freeze is due.
CHECK_EVERY_S = 1.0
