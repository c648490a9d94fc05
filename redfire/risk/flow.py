"""Order-flow counters over sliding time windows, as immutable values.

A ``SlidingWindowCounter`` holds the event timestamps (epoch ms) of the last ``horizon_ms`` and at
most ``max_entries`` of them, so its size is bounded whatever the event rate. ``add`` returns a
new counter; nothing is mutated, which makes the value safe to store in a table and replay.

Window convention: ``count(now, window_ms)`` counts events with ``now - window_ms < ts <= now``;
an event exactly ``window_ms`` old has left the window. When more than ``max_entries`` events
fall inside the horizon the oldest are dropped, so counts saturate at ``max_entries``: keep it
above the largest rate limit you check against.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace

DEFAULT_HORIZON_MS = 60_000
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class SlidingWindowCounter:
    """Timestamps of recent events, sorted, pruned to ``horizon_ms`` and ``max_entries``."""

    timestamps: tuple[int, ...] = ()
    horizon_ms: int = DEFAULT_HORIZON_MS
    max_entries: int = DEFAULT_MAX_ENTRIES

    def __post_init__(self) -> None:
        if self.horizon_ms <= 0:
            raise ValueError(f"horizon_ms must be positive, got {self.horizon_ms}")
        if self.max_entries <= 0:
            raise ValueError(f"max_entries must be positive, got {self.max_entries}")

    def add(self, ts: int) -> SlidingWindowCounter:
        """Return a counter with one more event at ``ts``, pruned relative to the newest event.

        Out-of-order timestamps are inserted in order; one older than the horizon is dropped.
        """
        position = bisect_right(self.timestamps, ts)
        merged = (*self.timestamps[:position], ts, *self.timestamps[position:])
        return replace(self, timestamps=_prune(merged, self.horizon_ms, self.max_entries))

    def prune(self, now: int) -> SlidingWindowCounter:
        """Return a counter without events older than ``horizon_ms`` before ``now``."""
        start = bisect_right(self.timestamps, now - self.horizon_ms)
        if start == 0:
            return self
        return replace(self, timestamps=self.timestamps[start:])

    def count(self, now: int, window_ms: int) -> int:
        """Count events with ``now - window_ms < ts <= now``."""
        if window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {window_ms}")
        if window_ms > self.horizon_ms:
            raise ValueError(
                f"window_ms {window_ms} exceeds the counter's horizon_ms {self.horizon_ms}; "
                "build the counter with a longer horizon"
            )
        low = bisect_right(self.timestamps, now - window_ms)
        high = bisect_right(self.timestamps, now)
        return high - low


def _prune(timestamps: tuple[int, ...], horizon_ms: int, max_entries: int) -> tuple[int, ...]:
    """Drop events older than the horizon behind the newest event, then keep the newest few."""
    newest = timestamps[-1]
    start = bisect_right(timestamps, newest - horizon_ms)
    start = max(start, len(timestamps) - max_entries)
    return timestamps[start:]
