"""Topic names with the configured prefix, and the faust topics the agents consume.

Every topic carries raw bytes: RedFire decodes per record itself so that it can
accept JSON or Avro and turn bad input into dead letters instead of crashes.
Outputs are produced by name (``TopicNames``) through the unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import AppT, TopicT

from redfire.settings import Settings
from redfire.streams import specs


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The full name of every topic (prefix applied)."""

    ticks: str
    orders: str
    fills: str
    risk_commands: str
    order_decisions: str
    risk_alerts: str
    risk_metrics: str
    stress_results: str
    dead_letters: str
    firm_exposures: str
    instruments: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        name = settings.topic
        return cls(
            ticks=name(specs.TICKS.name),
            orders=name(specs.ORDERS.name),
            fills=name(specs.FILLS.name),
            risk_commands=name(specs.RISK_COMMANDS.name),
            order_decisions=name(specs.ORDER_DECISIONS.name),
            risk_alerts=name(specs.RISK_ALERTS.name),
            risk_metrics=name(specs.RISK_METRICS.name),
            stress_results=name(specs.STRESS_RESULTS.name),
            dead_letters=name(specs.DEAD_LETTERS.name),
            firm_exposures=name(specs.FIRM_EXPOSURES.name),
            instruments=name(specs.INSTRUMENTS.name),
        )


@dataclass(frozen=True, slots=True)
class Topics:
    """The faust topics the agents subscribe to."""

    names: TopicNames
    ticks: TopicT
    orders: TopicT
    fills: TopicT
    risk_commands: TopicT
    firm_exposures: TopicT
    instruments: TopicT


def raw_topic(app: AppT, settings: Settings, spec: specs.TopicSpec) -> TopicT:
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


def build_topics(app: AppT, settings: Settings) -> Topics:
    """Declare the input topics on ``app``."""
    return Topics(
        names=TopicNames.of(settings),
        ticks=raw_topic(app, settings, specs.TICKS),
        orders=raw_topic(app, settings, specs.ORDERS),
        fills=raw_topic(app, settings, specs.FILLS),
        risk_commands=raw_topic(app, settings, specs.RISK_COMMANDS),
        firm_exposures=raw_topic(app, settings, specs.FIRM_EXPOSURES),
        instruments=raw_topic(app, settings, specs.INSTRUMENTS),
    )
