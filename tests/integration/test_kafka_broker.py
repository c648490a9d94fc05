"""The test brokers themselves: a single node that round-trips a record, and a
3-node KRaft cluster that keeps accepting ``acks=all`` writes when a node dies."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.plugins.kafka_broker import BrokerNode, KafkaNamespace, launcher
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    config: dict[str, str] | None = None,
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=config or {})],
        operation_timeout=30,
    )
    futures[name].result(timeout=60)

    # Metadata propagates asynchronously: wait until every partition has a leader.
    def has_leaders() -> bool:
        topic = admin.list_topics(name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None:
            return False
        leaders = [p.leader for p in topic.partitions.values()]
        return len(leaders) == partitions and all(leader >= 0 for leader in leaders)

    eventually(has_leaders, timeout=30, message=f"topic {name} has a leader per partition")


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **conf: Any) -> None:
    """Produce and wait for every delivery report; fail on any delivery error."""
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer({"bootstrap.servers": bootstrap, **conf})
    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} records not delivered within 60s"
    assert not errors, f"delivery failed: {errors[:3]}"


def consume_all(bootstrap: str, topic: str, group: str, expected: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    got: list[Message] = []
    try:
        consumer.subscribe([topic])

        def all_read() -> bool:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                assert msg.error() is None, msg.error()
                got.append(msg)
            return len(got) >= expected

        eventually(all_read, timeout=60, interval=0, message=f"{expected} records from {topic}")
    finally:
        consumer.close()
    return got


def test_single_broker_produce_and_consume(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    topic = kafka_namespace.topic("roundtrip")
    create_topic(kafka_bootstrap, topic)
    records = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(10)]
    produce(kafka_bootstrap, topic, records, acks="all", **{"enable.idempotence": True})

    got = consume_all(kafka_bootstrap, topic, kafka_namespace.app_id, len(records))

    assert [(m.key(), m.value()) for m in got] == records
    assert [m.offset() for m in got] == list(range(len(records)))


def test_broker_answers_raw_metadata_probe(kafka_bootstrap: str) -> None:
    """The launcher's stdlib probe (used when confluent-kafka is absent) works."""
    kafka = launcher()
    assert kafka.probe(kafka_bootstrap, use_confluent=False) >= 1
    assert kafka.probe(kafka_bootstrap, use_confluent=True) >= 1


def test_namespace_names_are_valid_kafka_names(kafka_namespace: KafkaNamespace) -> None:
    legal = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
    assert legal.match(kafka_namespace.topic("order_decisions"))
    assert legal.match(kafka_namespace.app_id)
    assert kafka_namespace.topic("fills") == f"{kafka_namespace.topic_prefix}fills"


def _partition_state(admin: AdminClient, topic: str) -> tuple[int, list[int]]:
    """(leader, sorted ISR) of partition 0; (-1, []) while metadata lags."""
    meta = admin.list_topics(topic, timeout=5).topics.get(topic)
    partition = meta.partitions.get(0) if meta is not None else None
    if partition is None:
        return -1, []
    return int(partition.leader), sorted(int(r) for r in partition.isrs)


@pytest.mark.reliability
def test_cluster_survives_losing_a_broker(
    kafka_cluster: str, kafka_cluster_nodes: list[BrokerNode], kafka_namespace: KafkaNamespace
) -> None:
    nodes = {node.node_id: node for node in kafka_cluster_nodes}
    assert len(nodes) == 3
    topic = kafka_namespace.topic("replicated")
    create_topic(kafka_cluster, topic, replication_factor=3, config={"min.insync.replicas": "2"})
    admin = AdminClient({"bootstrap.servers": kafka_cluster})
    eventually(lambda: len(_partition_state(admin, topic)[1]) == 3, timeout=30)
    strict = {"acks": "all", "enable.idempotence": True, "message.timeout.ms": 60000}

    before = [(b"before", f"b{i}".encode()) for i in range(50)]
    produce(kafka_cluster, topic, before, **strict)

    leader, _ = _partition_state(admin, topic)
    victim = nodes[leader]
    victim.kill()  # SIGKILL: a crash, no controlled shutdown
    assert not victim.is_alive()
    killed_at = time.monotonic()

    # A new leader is elected among the two survivors, and the dead node leaves the ISR.
    survivors = sorted(n for n in nodes if n != leader)

    def failed_over() -> tuple[int, list[int]] | None:
        state = _partition_state(admin, topic)
        return state if state[0] in survivors and state[1] == survivors else None

    failover = eventually(
        failed_over,
        timeout=60,
        message=f"leader moves off node {leader} and ISR shrinks to {survivors}",
    )
    assert failover is not None
    new_leader, isr = failover
    failover_seconds = time.monotonic() - killed_at

    # acks=all with min.insync.replicas=2 still succeeds with 2 of 3 replicas.
    after = [(b"after", f"a{i}".encode()) for i in range(50)]
    produce(kafka_cluster, topic, after, **strict)

    # Nothing acknowledged was lost; a consumer group (offsets topic RF=3) still works.
    got = consume_all(kafka_cluster, topic, kafka_namespace.app_id, len(before) + len(after))
    assert [(m.key(), m.value()) for m in got] == before + after

    # The crashed node rejoins and catches up into the ISR.
    victim.restart(timeout=120)
    eventually(lambda: len(_partition_state(admin, topic)[1]) == 3, timeout=60)
    print(f"failover: node {leader} -> {new_leader} in {failover_seconds:.1f}s; isr {isr}")
