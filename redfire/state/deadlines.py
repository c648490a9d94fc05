"""When a live order expires: IOC/FOK after their timeout, DAY orders at session end."""

from __future__ import annotations

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
