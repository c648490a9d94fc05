"""Topics are created as durable as the settings ask, or the worker refuses to start.

Against real brokers: ``REDFIRE_REPLICATION_FACTOR=-1`` takes the cluster's default
(3 on the test cluster, 1 on the single broker) with min.insync.replicas 2 or 1;
asking for more copies than there are brokers, or for more in-sync copies than copies,
or finding topics kept in fewer copies than asked, stops the start with a message that
names the setting; an existing topic's weaker min.insync.replicas is raised.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from redfire.settings import Settings
from redfire.streams.admin import (
    ClusterSetupError,
    Durability,
    TopicPlan,
    create_topics,
    ensure_topics,
    redfire_topic_plans,
)
from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.cluster import admin_client, durability_of, topics_of
from tests.support.eventually import eventually
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability


def settings_for(bootstrap: str, namespace: KafkaNamespace, **values: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        broker=f"kafka://{bootstrap}",
        topic_prefix=namespace.topic_prefix,
        app_id=namespace.app_id,
        partitions=2,
        **values,
    )


def test_the_cluster_default_gives_three_copies_two_in_sync(
    kafka_cluster: str, kafka_namespace: KafkaNamespace
) -> None:
    changelog = TopicPlan(
        f"{kafka_namespace.app_id}-positions-changelog", 2, {"cleanup.policy": "compact"}
    )
    chosen = settings_for(kafka_cluster, kafka_namespace)
    durability = ensure_topics(chosen, [changelog])
    assert (durability.replication_factor, durability.min_insync_replicas) == (3, 2)
    expected = len(redfire_topic_plans(chosen)) + 1

    def all_durable() -> bool:
        # Metadata reaches every broker a moment after the creation: read until it has.
        names = topics_of(kafka_cluster, [kafka_namespace.topic_prefix, kafka_namespace.app_id])
        found = durability_of(kafka_cluster, names)
        assert changelog.name in found and len(found) == expected, sorted(found)
        assert {(d.replicas, d.min_insync) for d in found.values()} == {(3, 2)}, found
        return True

    eventually(all_durable, timeout=30, interval=0.5)


def test_the_single_broker_default_gives_one_copy(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    durability = ensure_topics(settings_for(kafka_bootstrap, kafka_namespace))
    assert (durability.replication_factor, durability.min_insync_replicas) == (1, 1)


def test_more_copies_than_brokers_is_refused_naming_the_setting(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    with pytest.raises(ClusterSetupError, match=r"REDFIRE_REPLICATION_FACTOR=3.*1 live broker"):
        ensure_topics(settings_for(kafka_bootstrap, kafka_namespace, replication_factor=3))
    assert not topics_of(kafka_bootstrap, [kafka_namespace.topic_prefix])


def test_more_in_sync_copies_than_copies_is_refused_naming_the_setting(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    with pytest.raises(ClusterSetupError, match="REDFIRE_MIN_INSYNC_REPLICAS=2"):
        ensure_topics(settings_for(kafka_bootstrap, kafka_namespace, min_insync_replicas=2))


def existing_topic(bootstrap: str, name: str, copies: int, config: dict[str, str]) -> None:
    """Create ``name`` (2 partitions) as someone else would have, before RedFire starts."""
    topic = NewTopic(name, num_partitions=2, replication_factor=copies, config=config)
    client = admin_client(bootstrap)  # held: a dropped client cancels its requests
    client.create_topics([topic])[name].result(30)


def test_topics_kept_in_fewer_copies_than_asked_are_refused(
    kafka_cluster: str, kafka_namespace: KafkaNamespace
) -> None:
    name = f"{kafka_namespace.topic_prefix}orders"
    existing_topic(kafka_cluster, name, 1, {})
    with pytest.raises(ClusterSetupError, match=f"{name} \\(1\\).*REDFIRE_REPLICATION_FACTOR"):
        ensure_topics(settings_for(kafka_cluster, kafka_namespace))


def test_a_weaker_min_insync_on_an_existing_topic_is_raised(
    kafka_cluster: str, kafka_namespace: KafkaNamespace
) -> None:
    name = f"{kafka_namespace.topic_prefix}fills"
    existing_topic(kafka_cluster, name, 3, {"min.insync.replicas": "1"})
    ensure_topics(settings_for(kafka_cluster, kafka_namespace))
    eventually(lambda: durability_of(kafka_cluster, [name])[name].min_insync == 2, timeout=30)


def test_a_worker_asking_for_more_copies_than_brokers_exits_naming_the_setting(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace, tmp_path: Path
) -> None:
    worker = RedFireWorker(
        bootstrap=kafka_bootstrap,
        app_id=kafka_namespace.app_id,
        topic_prefix=kafka_namespace.topic_prefix,
        datadir=tmp_path / "data",
        extra_env={"REDFIRE_REPLICATION_FACTOR": "3"},
    )
    worker.spawn()
    try:
        eventually(lambda: worker.exit_code is not None, timeout=60, message="the worker exits")
    finally:
        worker.kill()
    assert worker.exit_code != 0
    assert "REDFIRE_REPLICATION_FACTOR=3 asks for 3 copies" in worker.log_tail(200)


def test_a_topic_created_since_the_metadata_read_is_handed_back_to_be_raised(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    # Another worker, or a broker whose metadata lagged: the topic exists by the time it
    # is created here, without the durability asked, so ensure_topics raises it after.
    name = f"{kafka_namespace.topic_prefix}orders"
    existing_topic(kafka_bootstrap, name, 1, {})
    durability = Durability(replication_factor=1, min_insync_replicas=1, brokers=1)
    plans = [TopicPlan(name, 2), TopicPlan(f"{kafka_namespace.topic_prefix}new", 2)]
    assert create_topics(admin_client(kafka_bootstrap), plans, durability, 30) == [name]
