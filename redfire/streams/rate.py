"""Whether a stream of events runs above a given rate, judged over short windows.

The producer's linger and the consumer's fetch settings both switch with how fast
records go by (``redfire.streams.linger``, ``redfire.streams.fetching``): each record
costs one increment and one read of the monotonic clock, to see whether a window ended.
"""

from __future__ import annotations

import time

WINDOW_S = 0.1  # how often the rate is looked at


class BusyRate:
    """Count events; at the end of each window, decide whether their rate is busy."""

    def __init__(self, busy_rate: float) -> None:
        self.busy_count = busy_rate * WINDOW_S
        self.busy = False
        self.count = 0
        self.window_ends = 0.0

    def reset(self) -> None:
        """Start again, idle, with a fresh window."""
        self.busy = False
        self.count = 0
        self.window_ends = time.monotonic() + WINDOW_S

    def note(self) -> bool:
        """Count one event; return True when it ends a window that changed ``busy``."""
        self.count += 1
        now = time.monotonic()
        if now < self.window_ends:
            return False
        elapsed = WINDOW_S + now - self.window_ends
        busy = self.count * WINDOW_S / elapsed >= self.busy_count
        self.count = 0
        self.window_ends = now + WINDOW_S
        changed = busy != self.busy
        self.busy = busy
        return changed
