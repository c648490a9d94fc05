"""Create RedFire's topics durably, check them against the cluster, and say why when it can't.

Every wait here has a deadline (``REDFIRE_KAFKA_ADMIN_TIMEOUT_S``), and every refusal is
a :class:`ClusterSetupError` whose message names the setting to change: a wrong password,
an untrusted certificate, too few brokers for the replication asked, or topics created
earlier with fewer replicas than asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from redfire.settings import Settings
from redfire.streams.specs import ALL_TOPICS, TopicLayoutError, partition_mismatches

log = logging.getLogger(__name__)

MIN_INSYNC = "min.insync.replicas"
DEFAULT_REPLICATION = "default.replication.factor"
# Kafka Streams' recommendation for production: three copies, two of them in sync.
RECOMMENDED_REPLICATION = 3
SHOWN_TOPICS = 5


class ClusterSetupError(RuntimeError):
    """The cluster cannot give what the settings ask; the message names the setting."""


@dataclass(frozen=True)
class Durability:
    """How many copies every topic keeps, how many must ack a write, and the cluster's size."""

    replication_factor: int
    min_insync_replicas: int
    brokers: int

    def topic_config(self) -> dict[str, str]:
        """Return the topic-level configuration every created topic gets."""
        return {MIN_INSYNC: str(self.min_insync_replicas)}


@dataclass(frozen=True)
class TopicPlan:
    """A topic to create when missing: name, partitions and topic-level configuration."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


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


def redfire_topic_plans(settings: Settings) -> list[TopicPlan]:
    """Return RedFire's own topics (streams/specs.py) with the configured prefix."""
    return [
        TopicPlan(settings.topic(spec.name), settings.partitions, spec.kafka_config())
        for spec in ALL_TOPICS
    ]


# --- connecting ------------------------------------------------------------------------------


def connection_failure(settings: Settings, errors: Iterable[KafkaError]) -> str | None:
    """Return what a client error says about the credentials or certificates, if anything.

    librdkafka retries a refused login or a failed TLS handshake forever and only
    reports it through the error callback; these two never heal by waiting.
    """
    for error in errors:
        text = error.str()
        lowered = text.lower()
        if error.code() == KafkaError._AUTHENTICATION or "sasl authentication" in lowered:
            return (
                f"Kafka at {settings.bootstrap_servers} refused the login of user "
                f"{settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism}): check "
                f"REDFIRE_KAFKA_SASL_USERNAME and REDFIRE_KAFKA_SASL_PASSWORD ({text})"
            )
        tls = "ssl handshake" in lowered or "certificate" in lowered
        if error.code() == KafkaError._SSL or tls:
            trusted = settings.kafka_ssl_cafile or "the system's CA certificates"
            return (
                f"TLS handshake with Kafka at {settings.bootstrap_servers} failed: its "
                f"certificate is not trusted by REDFIRE_KAFKA_SSL_CAFILE ({trusted}), or it "
                f"speaks no TLS on that port (REDFIRE_KAFKA_SECURITY_PROTOCOL) ({text})"
            )
    return None


def connect(settings: Settings, timeout: float | None = None) -> tuple[AdminClient, Any]:
    """Return an admin client and the cluster's metadata; fail fast on bad credentials.

    Raises ClusterSetupError within ``timeout`` (``REDFIRE_KAFKA_ADMIN_TIMEOUT_S``) when
    no broker answers, and within about a second when the login or TLS handshake fails.
    """
    wait = settings.kafka_admin_timeout_s if timeout is None else timeout
    errors: list[KafkaError] = []
    # librdkafka's own log lines would repeat the same failure every few milliseconds;
    # the error callback keeps them, and the exception raised here says them once.
    config: dict[str, Any] = {
        **client_config(settings),
        "error_cb": errors.append,
        "log_level": 0,
    }
    admin = AdminClient(config)
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        try:
            return admin, admin.list_topics(timeout=max(0.1, min(1.0, left)))
        except KafkaException as exc:
            last = exc
        admin.poll(0)
        failure = connection_failure(settings, errors)
        if failure is not None:
            raise ClusterSetupError(failure)
        if time.monotonic() >= deadline:
            seen = "; ".join(dict.fromkeys(e.str() for e in errors)) or str(last)
            raise ClusterSetupError(
                f"Kafka at {settings.bootstrap_servers} did not answer within {wait:g}s "
                f"(REDFIRE_BROKER, REDFIRE_KAFKA_ADMIN_TIMEOUT_S): {seen}"
            )


def check_connection(settings: Settings, timeout: float | None = None) -> int:
    """Connect, or raise ClusterSetupError saying why not; return the number of live brokers."""
    _admin, metadata = connect(settings, timeout)
    return len(metadata.brokers)


# --- durability ------------------------------------------------------------------------------


def broker_default_replication(admin: AdminClient, metadata: Any, timeout: float) -> int | None:
    """Return the cluster's ``default.replication.factor``, or None when it does not say."""
    for broker_id in sorted(metadata.brokers):
        resource = ConfigResource(ResourceType.BROKER, str(broker_id))
        try:
            configs = admin.describe_configs([resource])[resource].result(timeout)
        except KafkaException:
            continue
        entry = configs.get(DEFAULT_REPLICATION)
        if entry is not None and entry.value is not None:
            return int(entry.value)
    return None


def resolve_durability(
    settings: Settings, admin: AdminClient, metadata: Any, timeout: float
) -> Durability:
    """Turn the -1 defaults into numbers and refuse settings no cluster could honour."""
    brokers = len(metadata.brokers)
    replication = settings.replication_factor
    if replication == -1:
        # As Kafka Streams' replication.factor=-1: the broker's default. A broker that
        # does not report its configuration gets three copies where three brokers exist.
        found = broker_default_replication(admin, metadata, timeout)
        replication = found if found else min(RECOMMENDED_REPLICATION, brokers)
    min_insync = settings.min_insync_replicas
    if min_insync == -1:
        min_insync = 2 if replication >= RECOMMENDED_REPLICATION else 1
    if min_insync > replication:
        raise ClusterSetupError(
            f"REDFIRE_MIN_INSYNC_REPLICAS={min_insync} exceeds the replication factor "
            f"{replication} (REDFIRE_REPLICATION_FACTOR={settings.replication_factor}): "
            "no write could ever be acknowledged"
        )
    return Durability(replication, min_insync, brokers)


def _too_few_brokers(settings: Settings, durability: Durability) -> ClusterSetupError:
    asked = (
        f"REDFIRE_REPLICATION_FACTOR={settings.replication_factor}"
        if settings.replication_factor != -1
        else f"REDFIRE_REPLICATION_FACTOR=-1 (the cluster's {DEFAULT_REPLICATION}, "
        f"{durability.replication_factor})"
    )
    return ClusterSetupError(
        f"{asked} asks for {durability.replication_factor} copies of every topic but the "
        f"cluster at {settings.bootstrap_servers} has {durability.brokers} live broker(s): "
        "start more brokers or lower REDFIRE_REPLICATION_FACTOR"
    )


def under_replicated(metadata: Any, names: Iterable[str], replication: int) -> dict[str, int]:
    """Return topic → replica count of the existing topics kept in fewer than ``replication``."""
    short = {}
    for name in names:
        topic = metadata.topics.get(name)
        if topic is None or not topic.partitions:
            continue
        copies = min(len(p.replicas) for p in topic.partitions.values())
        if copies < replication:
            short[name] = copies
    return short


def _refuse_under_replicated(
    settings: Settings, durability: Durability, short: Mapping[str, int]
) -> ClusterSetupError:
    shown = ", ".join(f"{name} ({copies})" for name, copies in list(short.items())[:SHOWN_TOPICS])
    more = f" and {len(short) - SHOWN_TOPICS} more" if len(short) > SHOWN_TOPICS else ""
    return ClusterSetupError(
        f"REDFIRE_REPLICATION_FACTOR={settings.replication_factor} asks for "
        f"{durability.replication_factor} copies, but these topics exist with fewer: "
        f"{shown}{more}. Add replicas with kafka-reassign-partitions.sh, or set "
        "REDFIRE_REPLICATION_FACTOR to what they have to run without the extra copies."
    )


def raise_min_insync(
    admin: AdminClient, names: Sequence[str], min_insync: int, timeout: float
) -> list[str]:
    """Set ``min.insync.replicas`` on the topics that have less; return the topics changed.

    Never lowers it: an operator's stricter setting stays.
    """
    if not names:
        return []
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    described = admin.describe_configs(resources)
    weaker = []
    for resource, future in described.items():
        entry = future.result(timeout).get(MIN_INSYNC)
        if entry is None or entry.value is None or int(entry.value) < min_insync:
            weaker.append(resource.name)
    if not weaker:
        return []
    changes = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(
                    MIN_INSYNC, str(min_insync), incremental_operation=AlterConfigOpType.SET
                )
            ],
        )
        for name in weaker
    ]
    for future in admin.incremental_alter_configs(changes).values():
        future.result(timeout)
    return weaker


def create_topics(
    admin: AdminClient, plans: Sequence[TopicPlan], durability: Durability, timeout: float
) -> list[str]:
    """Create the planned topics with the durability's replication and min.insync.replicas.

    Return the ones that exist already: created since the metadata was read (by another
    worker starting, or a broker whose metadata lagged), so made without these settings.
    """
    if not plans:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                plan.name,
                num_partitions=plan.partitions,
                replication_factor=durability.replication_factor,
                config={**plan.config, **durability.topic_config()},
            )
            for plan in plans
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    existing = []
    for name, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                existing.append(name)
                continue
            raise ClusterSetupError(f"cannot create topic {name}: {exc}") from exc
        log.info("created topic %s", name)
    return existing


def ensure_topics(
    settings: Settings,
    internal: Sequence[TopicPlan] = (),
    timeout: float | None = None,
) -> Durability:
    """Create missing topics durably, check existing ones, and return the durability used.

    ``internal`` adds topics RedFire does not own but wants durable, such as faust's
    changelogs (``redfire.streams.durability.internal_topic_plans``). Refuses (raises
    ClusterSetupError or TopicLayoutError) on a partition mismatch, on too few brokers
    for the replication asked, and on existing topics kept in fewer copies than asked;
    raises ``min.insync.replicas`` on existing topics that have less.
    """
    wait = settings.kafka_admin_timeout_s if timeout is None else timeout
    admin, metadata = connect(settings, wait)
    existing = {name: len(topic.partitions) for name, topic in metadata.topics.items()}
    problems = partition_mismatches(existing, settings.partitions, settings.topic_prefix)
    if problems:
        raise TopicLayoutError(
            "co-partitioned topics disagree with REDFIRE_PARTITIONS="
            f"{settings.partitions}: "
            + "; ".join(problems)
            + ". Set REDFIRE_PARTITIONS to match, or recreate the topics."
        )
    durability = resolve_durability(settings, admin, metadata, wait)
    plans = [*redfire_topic_plans(settings), *internal]
    missing = [plan for plan in plans if plan.name not in existing]
    present = [plan.name for plan in plans if plan.name in existing]
    if missing and durability.replication_factor > durability.brokers:
        raise _too_few_brokers(settings, durability)
    short = under_replicated(metadata, present, durability.replication_factor)
    if short:
        raise _refuse_under_replicated(settings, durability, short)
    present += create_topics(admin, missing, durability, wait)
    raised = raise_min_insync(admin, present, durability.min_insync_replicas, wait)
    if raised:
        log.warning(
            "raised %s to %d on %d existing topic(s): %s",
            MIN_INSYNC,
            durability.min_insync_replicas,
            len(raised),
            ", ".join(raised[:SHOWN_TOPICS]),
        )
    return durability
