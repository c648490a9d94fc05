"""Plain Kafka clients for tests: what any producer or consumer would do."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

JsonRecord = dict[str, Any]


def producer(bootstrap: str) -> Producer:
    """Return a producer using Kafka's Java default partitioner (murmur2)."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "log_level": 2,
        }
    )


def send_json(prod: Producer, topic: str, key: str | None, value: JsonRecord | bytes) -> None:
    """Queue one record; dicts are sent as JSON."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    while True:
        try:
            prod.produce(topic, key=None if key is None else key.encode(), value=raw)
            return
        except BufferError:
            prod.poll(0.1)


class TopicReader:
    """A group-less consumer over every partition of one topic, from the start."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-reader-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 2,
            }
        )
        partitions = partition_count(bootstrap, topic)
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records: list[tuple[str | None, bytes, int]] = []

    def poll(self, seconds: float = 0.2) -> int:
        """Read what arrives within ``seconds``; return how many records came."""
        deadline = time.monotonic() + seconds
        count = 0
        while (left := deadline - time.monotonic()) > 0:
            message = self.consumer.poll(min(left, 0.1))
            if message is None or message.error():
                continue
            key = message.key()
            self.records.append(
                (None if key is None else key.decode(), message.value() or b"", message.partition())
            )
            count += 1
        return count

    def json_values(self) -> list[JsonRecord]:
        return [json.loads(value) for _key, value, _p in self.records]

    def wait_for(
        self, condition: Callable[[list[JsonRecord]], bool], timeout: float = 60.0
    ) -> list[JsonRecord]:
        """Poll until ``condition(all values so far)`` holds; return the values."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll(0.2)
            values = self.json_values()
            if condition(values):
                return values
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.topic}: condition not met after {timeout}s with {len(values)} records"
                )

    def close(self) -> None:
        self.consumer.close()


def partition_count(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """Return the topic's partition count, waiting for it to exist."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(topic, timeout=5)
        found = metadata.topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return len(found.partitions)
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} does not exist after {timeout}s")
        time.sleep(0.1)


def by_field(values: Iterable[JsonRecord], field: str) -> dict[Any, JsonRecord]:
    """Index records by one field (the last record wins)."""
    return {value[field]: value for value in values}


def read_to_end(
    bootstrap: str, topic: str, timeout: float = 60.0
) -> list[tuple[str | None, bytes, int]]:
    """Return every record of ``topic`` up to the end offsets it has now, as (key, value, p).

    Unlike polling until quiet, this ends on a topic that keeps being written.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "log_level": 2,
        }
    )
    try:
        ends = {}
        for p in range(partition_count(bootstrap, topic)):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        records: list[tuple[str | None, bytes, int]] = []
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: not read to its end after {timeout}s")
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            key = message.key()
            records.append(
                (None if key is None else key.decode(), message.value() or b"", message.partition())
            )
            if message.offset() + 1 >= ends.get(message.partition(), 0):
                ends.pop(message.partition(), None)
        return records
    finally:
        consumer.close()
