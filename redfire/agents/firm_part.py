"""Per-partition totals handed from the monitor to the firm stage."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redfire.schemas.records import RiskSnapshot
from redfire.streams import topics

FIRM = "FIRM"
SUMMED = (
    "equity",
    "cash",
    "gross_exposure",
    "net_exposure",
    "realized_pnl",
    "unrealized_pnl",
    "daily_pnl",
)
# The last snapshot of every account, so a partition's totals always cover all of
# its accounts even when only some were due for a new snapshot this tick.
latest: dict[str, RiskSnapshot] = {}


@dataclass
class PartitionTotals:
    partition: int
    ts: int
    snapshots: list[RiskSnapshot] = field(default_factory=list)

    def add(self, snapshot: RiskSnapshot) -> None:
        latest[snapshot.account] = snapshot
        self.snapshots.append(snapshot)

    def add_cached(self, account: str) -> None:
        snapshot = latest.get(account)
        if snapshot is not None:
            self.snapshots.append(snapshot)

    def body(self) -> dict[str, Any]:
        """Return the record the firm stage merges: summed figures and exposures."""
        exposures: dict[str, float] = {}
        for snapshot in self.snapshots:
            for position in snapshot.positions:
                exposures[position.symbol] = (
                    exposures.get(position.symbol, 0.0) + position.market_value
                )
        totals = {name: sum(getattr(s, name) for s in self.snapshots) for name in SUMMED}
        return {
            "partition": self.partition,
            "ts": self.ts,
            "accounts": len(self.snapshots),
            "exposures": exposures,
            **totals,
        }


async def publish_part(totals: PartitionTotals) -> None:
    """Send the partition's totals to the firm stage (keyed FIRM: one agent merges)."""
    await topics.firm_exposures.send(key=FIRM.encode(), value=json.dumps(totals.body()).encode())
