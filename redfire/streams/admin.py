"""Create RedFire's topics idempotently and check their partition layout."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from redfire.settings import Settings
from redfire.streams.specs import ALL_TOPICS, TopicLayoutError, partition_mismatches

log = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """Return confluent-kafka client settings for the configured broker."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password or ""
    if settings.kafka_ssl_cafile:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    return config


def existing_partitions(admin: AdminClient, timeout: float = 10.0) -> dict[str, int]:
    """Return topic name → partition count for every topic on the cluster."""
    metadata = admin.list_topics(timeout=timeout)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def ensure_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Create missing topics and refuse to start on a partition mismatch."""
    admin = AdminClient(client_config(settings))
    existing = existing_partitions(admin, timeout)
    problems = partition_mismatches(existing, settings.partitions, settings.topic_prefix)
    if problems:
        raise TopicLayoutError(
            "co-partitioned topics disagree with REDFIRE_PARTITIONS="
            f"{settings.partitions}: "
            + "; ".join(problems)
            + ". Set REDFIRE_PARTITIONS to match, or recreate the topics."
        )
    missing = [spec for spec in ALL_TOPICS if settings.topic(spec.name) not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            NewTopic(
                settings.topic(spec.name),
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                config=spec.kafka_config(),
            )
            for spec in missing
        ],
        operation_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        log.info("created topic %s", name)
