"""What makes a written record survive a broker: replication, in-sync copies, acks, deadlines.

Two calls wire it into the app factory:

* ``faust.App(..., **faust_durability_options(settings))`` when the app is built
  (no I/O: acks, standby replicas, bounded request and metadata waits);
* ``await prepare_cluster(app, settings)`` in the app's ``on_first_start``, before
  faust declares anything: it resolves ``REDFIRE_REPLICATION_FACTOR=-1`` against the
  cluster, creates RedFire's topics and faust's changelog and leader topics with that
  replication and ``min.insync.replicas``, refuses to start when the cluster cannot
  honour the settings, and hands the resolved replication to faust for any topic it
  creates itself.

faust cannot take ``-1`` itself (``topic_replication_factor`` is an unsigned int), so the
number is resolved at start, as Kafka Streams' ``replication.factor=-1`` is by the broker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust
from mode.utils.times import want_seconds

from redfire.settings import Settings
from redfire.streams.admin import Durability, TopicPlan, ensure_topics

log = logging.getLogger(__name__)

ALL_REPLICAS = -1  # acks=all: the leader answers once every in-sync replica has the write


def faust_durability_options(settings: Settings) -> dict[str, Any]:
    """Return the faust.App keyword arguments that make writes durable and waits bounded.

    ``topic_replication_factor`` is a placeholder when the setting is -1: ``prepare_cluster``
    replaces it with the cluster's default before faust creates a topic.
    """
    return {
        "topic_replication_factor": max(settings.replication_factor, 1),
        "producer_acks": ALL_REPLICAS,
        "table_standby_replicas": settings.standby_replicas,
        # faust's defaults (20 min, 5 min) stall a worker for minutes after a broker dies.
        # The request timeout also expires a produce batch, which bounds faust's
        # producer.flush() before each commit (except with exactly_once, whose idempotent
        # producer never expires batches).
        "broker_request_timeout": settings.kafka_request_timeout_s,
        "producer_request_timeout": settings.kafka_request_timeout_s,
        "producer_metadata_max_age_ms": settings.kafka_metadata_max_age_ms,
        "consumer_metadata_max_age_ms": settings.kafka_metadata_max_age_ms,
    }


def changelog_config(topic: Any) -> dict[str, str]:
    """Return the topic configuration faust itself would create ``topic`` with."""
    config: dict[str, str] = {}
    policies = sorted(
        name
        for name, wanted in (("compact", topic.compacting), ("delete", topic.deleting))
        if wanted
    )
    if policies:
        config["cleanup.policy"] = ",".join(policies)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    config.update({str(k): str(v) for k, v in (topic.config or {}).items()})
    return config


def internal_topic_plans(app: faust.App) -> list[TopicPlan]:
    """Return faust's own topics of ``app``: every table's changelog and the leader topic."""
    plans = []
    for table in app.tables.values():
        topic = table.changelog_topic
        plans.append(
            TopicPlan(
                topic.get_topic_name(),
                topic.partitions or app.conf.topic_partitions,
                changelog_config(topic),
            )
        )
    if not app.conf.topic_disable_leader:
        # The name faust.assignor.LeaderAssignor gives it; one partition, no config.
        plans.append(TopicPlan(f"{app.conf.id}-__assignor-__leader", 1))
    return plans


async def prepare_cluster(app: faust.App, settings: Settings) -> Durability:
    """Create and check every topic durably before faust declares any; return the durability.

    Raises ``ClusterSetupError`` (naming the setting) or ``TopicLayoutError``: the worker
    then exits non-zero instead of running with fewer copies than asked.
    """
    plans = internal_topic_plans(app)
    loop = asyncio.get_running_loop()
    durability = await loop.run_in_executor(None, functools.partial(ensure_topics, settings, plans))
    app.conf.topic_replication_factor = durability.replication_factor
    log.info(
        "topics: replication %d, min.insync.replicas %d, acks=all (%d live brokers)",
        durability.replication_factor,
        durability.min_insync_replicas,
        durability.brokers,
    )
    if settings.standby_replicas > 0:
        log.warning(
            "REDFIRE_STANDBY_REPLICAS=%d: faust 0.15.3's standby copies can miss changelog "
            "records, and a takeover from one then serves stale positions (README, "
            '"Standby replicas"); 0 replays the changelog instead',
            settings.standby_replicas,
        )
    return durability
