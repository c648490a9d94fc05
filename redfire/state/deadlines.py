"""When a live order expires: IOC/FOK after their timeout, DAY orders at session end."""

from __future__ import annotations

import heapq

from redfire.risk.lifecycle import OrderLifecycle, OrderType, TimeInForce

NEVER = 2**62
DAY_MS = 24 * 3600 * 1000


class Deadlines:
    """Compute an order's expiry deadline from REDFIRE_IOC_TIMEOUT_MS and _SESSION_END_UTC."""

    def __init__(self, ioc_timeout_ms: int, session_end_utc: str) -> None:
        self.ioc_timeout_ms = ioc_timeout_ms
        hours, minutes = session_end_utc.split(":")
        self.session_end_offset_ms = int(hours) * 3_600_000 + int(minutes) * 60_000

    def next_session_end(self, ts: int) -> int:
        """Return the first session end strictly after ``ts``."""
        offset = self.session_end_offset_ms
        return ts - (ts - offset) % DAY_MS + DAY_MS

    def of(self, order: OrderLifecycle) -> int:
        """Return when a live order expires (NEVER for GTC limit orders)."""
        if order.order_type in (OrderType.IOC, OrderType.FOK):
            return order.ts_created + self.ioc_timeout_ms
        if order.time_in_force == TimeInForce.DAY:
            return self.next_session_end(order.ts_created)
        return NEVER


class DueIndex:
    """An account's live orders by deadline: the earliest at once, the due ones by deadline.

    Every fill that ends an order, and every cancel, removes one entry in O(1); a scan of
    every live order then would cost each fill O(live orders), and a desk keeps thousands
    resting. Orders that never expire (NEVER) are not held.
    """

    def __init__(self) -> None:
        self._ids: dict[int, set[str]] = {}
        # Every deadline held, as a heap; entries whose deadline has no order left are
        # dropped when they reach the top.
        self._heap: list[int] = []

    def add(self, deadline: int, order_id: str) -> None:
        if deadline >= NEVER:
            return
        ids = self._ids.get(deadline)
        if ids is None:
            ids = self._ids[deadline] = set()
            heapq.heappush(self._heap, deadline)
        ids.add(order_id)

    def remove(self, deadline: int, order_id: str) -> None:
        ids = self._ids.get(deadline)
        if ids is None:
            return
        ids.discard(order_id)
        if not ids:
            del self._ids[deadline]

    def earliest(self) -> int:
        """Return the earliest deadline of a held order (NEVER when none)."""
        heap, ids = self._heap, self._ids
        while heap and heap[0] not in ids:
            heapq.heappop(heap)
        return heap[0] if heap else NEVER

    def due(self, ts: int) -> list[str]:
        """Return the ids of the orders due at ``ts``, by deadline then id."""
        if self.earliest() > ts:
            return []
        due = [(d, i) for d, ids in self._ids.items() if d <= ts for i in ids]
        return [order_id for _deadline, order_id in sorted(due)]
