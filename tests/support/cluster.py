"""What the cluster itself says about a test's topics: replicas, in-sync copies, leaders.

Read with a plain admin client, independently of RedFire's own admin code, so that a
test of durability does not trust the code under test to report on itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from tests.support.eventually import eventually

OFFSETS_TOPIC = "__consumer_offsets"


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def metadata(bootstrap: str, timeout: float = 10.0) -> Any:
    return admin_client(bootstrap).list_topics(timeout=timeout)


def topics_of(bootstrap: str, prefixes: Sequence[str]) -> list[str]:
    """Return every topic whose name starts with one of ``prefixes``."""
    return sorted(n for n in metadata(bootstrap).topics if n.startswith(tuple(prefixes)))


@dataclass(frozen=True)
class TopicDurability:
    """Fewest replicas of any partition, and the topic's min.insync.replicas."""

    replicas: int
    min_insync: int


def durability_of(bootstrap: str, names: Iterable[str]) -> dict[str, TopicDurability]:
    """Return topic → replicas and min.insync.replicas as the cluster reports them."""
    client = admin_client(bootstrap)
    described = client.list_topics(timeout=10)
    wanted = [n for n in names if n in described.topics]
    futures = client.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in wanted])
    out = {}
    for resource, future in futures.items():
        partitions = described.topics[resource.name].partitions.values()
        out[resource.name] = TopicDurability(
            replicas=min(len(p.replicas) for p in partitions),
            min_insync=int(future.result(10)["min.insync.replicas"].value),
        )
    return out


def leaders(bootstrap: str, names: Iterable[str]) -> Counter[int]:
    """Return broker id → number of the topics' partitions it leads."""
    topics = metadata(bootstrap).topics
    counted: Counter[int] = Counter()
    for name in names:
        for partition in topics[name].partitions.values():
            if partition.leader >= 0:
                counted[partition.leader] += 1
    return counted


def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    return int(metadata(bootstrap).topics[topic].partitions[partition].leader)


def out_of_sync(bootstrap: str, names: Iterable[str]) -> list[str]:
    """Return ``topic/partition`` of every partition whose ISR lacks a replica or a leader."""
    topics = metadata(bootstrap).topics
    lagging = []
    for name in names:
        for number, partition in topics[name].partitions.items():
            if partition.leader < 0 or set(partition.isrs) != set(partition.replicas):
                lagging.append(f"{name}/{number}")
    return lagging


def wait_in_sync(bootstrap: str, names: Sequence[str], timeout: float = 90.0) -> float:
    """Wait until every partition of the topics has all its replicas in sync; return seconds."""
    began = time.monotonic()
    eventually(
        lambda: not out_of_sync(bootstrap, names),
        timeout=timeout,
        interval=0.5,
        message=f"every partition of {len(names)} topics back in sync",
        retry_on=(AssertionError, KeyError),
    )
    return time.monotonic() - began


def create_placed_topic(
    bootstrap: str, name: str, brokers_by_partition: Sequence[int], config: dict[str, str]
) -> None:
    """Create a topic with one replica per partition on the given brokers."""
    topic = NewTopic(
        name,
        num_partitions=len(brokers_by_partition),
        replica_assignment=[[broker] for broker in brokers_by_partition],
        config=config,
    )
    client = admin_client(bootstrap)  # kept: a collected client cancels its futures
    client.create_topics([topic])[name].result(30)
