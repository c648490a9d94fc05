"""Which accounts changed since their last snapshot, and when each was last published."""

from __future__ import annotations


class Activity:
    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.published: dict[str, int] = {}

    def touch(self, account: str) -> None:
        """Mark the account as changed: its next snapshot is due at the next clock tick."""
        self.dirty.add(account)

    def due(self, account: str, now_ms: int, interval_ms: int) -> bool:
        """Return True when the account changed or its last snapshot is too old."""
        last = self.published.get(account)
        return account in self.dirty or last is None or now_ms - last >= interval_ms

    def published_at(self, account: str, now_ms: int) -> None:
        self.dirty.discard(account)
        self.published[account] = now_ms


activity = Activity()
