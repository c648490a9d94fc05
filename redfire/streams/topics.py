"""The faust topic objects, built from the specs with the configured prefix.

Every topic carries raw bytes: RedFire decodes per record itself so that it can
accept JSON or Avro and turn bad input into dead letters instead of crashes.
"""

from __future__ import annotations

from faust.types import TopicT

from redfire.app import app, settings
from redfire.streams import specs


def raw_topic(spec: specs.TopicSpec) -> TopicT:
    """Return the faust topic for ``spec``: raw bytes key and value."""
    return app.topic(
        settings.topic(spec.name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
        compacting=spec.compacted or None,
        retention=spec.retention_ms / 1000 if spec.retention_ms and not spec.compacted else None,
        internal=False,
    )


ticks = raw_topic(specs.TICKS)
orders = raw_topic(specs.ORDERS)
fills = raw_topic(specs.FILLS)
risk_commands = raw_topic(specs.RISK_COMMANDS)
order_decisions = raw_topic(specs.ORDER_DECISIONS)
risk_alerts = raw_topic(specs.RISK_ALERTS)
risk_metrics = raw_topic(specs.RISK_METRICS)
stress_results = raw_topic(specs.STRESS_RESULTS)
dead_letters = raw_topic(specs.DEAD_LETTERS)
risk_clock = raw_topic(specs.RISK_CLOCK)
firm_exposures = raw_topic(specs.FIRM_EXPOSURES)
