"""Topic specifications: name, key, value schema, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    schema: str
    co_partitioned: bool
    compacted: bool = False
    retention_ms: int | None = 7 * DAY_MS
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        """Return the topic-level Kafka configuration for creation."""
        config = dict(self.config)
        config["cleanup.policy"] = "compact" if self.compacted else "delete"
        if self.retention_ms is not None and not self.compacted:
            config["retention.ms"] = str(self.retention_ms)
        return config


TICKS = TopicSpec("ticks", "symbol", "tick", co_partitioned=False, retention_ms=DAY_MS)
ORDERS = TopicSpec("orders", "account", "order_request", co_partitioned=True)
FILLS = TopicSpec("fills", "account", "fill", co_partitioned=True, retention_ms=30 * DAY_MS)
RISK_COMMANDS = TopicSpec(
    "risk_commands", "account or *", "risk_command", co_partitioned=True, retention_ms=None
)
ORDER_DECISIONS = TopicSpec("order_decisions", "account", "order_decision", co_partitioned=True)
RISK_ALERTS = TopicSpec("risk_alerts", "account or FIRM", "risk_alert", co_partitioned=True)
RISK_METRICS = TopicSpec(
    "risk_metrics", "account or FIRM", "risk_snapshot", co_partitioned=True, compacted=True
)
STRESS_RESULTS = TopicSpec(
    "stress_results", "account or FIRM", "stress_result", co_partitioned=True
)
DEAD_LETTERS = TopicSpec(
    "dead_letters", "original key", "dead_letter", co_partitioned=False, retention_ms=30 * DAY_MS
)
# Closing MARKET orders a FLATTEN (command or rule action) asks the gateway to send.
EMERGENCY_ORDERS = TopicSpec(
    "emergency_orders", "account", "order_request", co_partitioned=True, retention_ms=30 * DAY_MS
)
# Reference data: the latest Instrument per symbol, read in full by every worker.
INSTRUMENTS = TopicSpec(
    "instruments", "symbol", "instrument", co_partitioned=False, compacted=True, retention_ms=None
)

# Internal topic: the per-partition exposures the firm stage merges.
FIRM_EXPOSURES = TopicSpec(
    "redfire_firm_exposures", "FIRM", "internal", co_partitioned=False, retention_ms=DAY_MS
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TICKS,
    ORDERS,
    FILLS,
    RISK_COMMANDS,
    ORDER_DECISIONS,
    RISK_ALERTS,
    RISK_METRICS,
    STRESS_RESULTS,
    DEAD_LETTERS,
    INSTRUMENTS,
    FIRM_EXPOSURES,
    EMERGENCY_ORDERS,
)


class TopicLayoutError(RuntimeError):
    """Existing topics disagree with the partition layout RedFire needs."""


def partition_mismatches(existing: dict[str, int], expected: int, prefix: str = "") -> list[str]:
    """Describe every co-partitioned topic whose partition count is not ``expected``."""
    problems = []
    for spec in ALL_TOPICS:
        name = prefix + spec.name
        count = existing.get(name)
        if spec.co_partitioned and count is not None and count != expected:
            problems.append(f"{name} has {count} partitions, expected {expected}")
    return problems
