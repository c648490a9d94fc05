"""Recent order, cancel and reject times per account, for rate checks and rule metrics.

Mutable and O(1) amortised per event: timestamps are appended (arriving
mostly in order), counted with a binary search, and the expired head is
dropped lazily. In memory only: the counts restart empty after a restart or
a rebalance (documented in the README).
"""

from __future__ import annotations

from bisect import bisect_right, insort

HORIZON_MS = 60_000
MAX_ENTRIES = 10_000


class FlowWindow:
    """Event times of the last ``horizon_ms``, at most ``max_entries`` of them."""

    __slots__ = ("_head", "_times", "horizon_ms", "max_entries")

    def __init__(self, horizon_ms: int = HORIZON_MS, max_entries: int = MAX_ENTRIES) -> None:
        self.horizon_ms = horizon_ms
        self.max_entries = max_entries
        self._times: list[int] = []
        self._head = 0

    def add(self, ts: int) -> None:
        """Record one event at ``ts`` (out-of-order times are inserted in order)."""
        times = self._times
        if not times or ts >= times[-1]:
            times.append(ts)
        else:
            insort(times, ts, lo=self._head)
        self._prune(times[-1])

    def count(self, now: int, window_ms: int) -> int:
        """Count events with ``now - window_ms < ts <= now``."""
        times = self._times
        low = bisect_right(times, now - window_ms, lo=self._head)
        high = len(times) if not times or times[-1] <= now else bisect_right(times, now, lo=low)
        return high - low

    def _prune(self, newest: int) -> None:
        times = self._times
        head = bisect_right(times, newest - self.horizon_ms, lo=self._head)
        head = max(head, len(times) - self.max_entries)
        # Compact once the dead head is as long as the live part: amortised O(1).
        if head > 64 and head * 2 > len(times):
            del times[:head]
            head = 0
        self._head = head


class AccountFlow:
    """One account's recent orders, cancels and rejections."""

    __slots__ = ("cancels", "last_ts", "orders", "rejects")

    def __init__(self) -> None:
        self.orders = FlowWindow()
        self.cancels = FlowWindow()
        self.rejects = FlowWindow()
        self.last_ts: int | None = None

    def record_order(self, ts: int, rejected: bool) -> None:
        self.orders.add(ts)
        if rejected:
            self.rejects.add(ts)
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def record_cancel(self, ts: int) -> None:
        self.cancels.add(ts)

    def reject_ratio(self, window_ms: int = 60_000) -> float:
        """Return rejected / decided orders over the window before the last order."""
        if self.last_ts is None:
            return 0.0
        decided = self.orders.count(self.last_ts, window_ms)
        return 0.0 if decided == 0 else self.rejects.count(self.last_ts, window_ms) / decided

    def orders_per_s(self) -> float:
        """Return the order requests in the last second before the last order."""
        return 0.0 if self.last_ts is None else float(self.orders.count(self.last_ts, 1000))
