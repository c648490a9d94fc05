"""Which changelog partitions a worker stops fetching after a recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP

from redfire.settings import Settings
from redfire.streams.fetching import pause_written_changelogs, set_fetch_limits


class KafkaConsumer:
    def __init__(self) -> None:
        self.paused: set[TopicPartition] = set()

    def pause(self, *partitions: TopicPartition) -> None:
        assert all(isinstance(p, TopicPartition) for p in partitions)
        self.paused.update(partitions)


class ConsumerThread:
    def __init__(self) -> None:
        self._consumer = KafkaConsumer()
        self.calls = 0

    async def call_thread(self, fun: Callable[[], Awaitable[None]]) -> None:
        self.calls += 1
        await fun()


def app_with(paused: set[TP], assigned: set[TP]) -> Any:
    consumer = SimpleNamespace(
        _paused_partitions=paused, assignment=lambda: assigned, _thread=ConsumerThread()
    )
    tables = SimpleNamespace(changelog_topics={"app-positions-changelog", "app-bars-changelog"})
    return SimpleNamespace(consumer=consumer, tables=tables)


def test_only_paused_assigned_changelog_partitions_are_paused_in_aiokafka() -> None:
    positions0, bars1 = TP("app-positions-changelog", 0), TP("app-bars-changelog", 1)
    orders0, gone = TP("orders", 0), TP("app-positions-changelog", 3)
    standby = TP("app-bars-changelog", 2)  # faust reads it: not in its paused set
    app = app_with(
        paused={positions0, bars1, orders0, gone}, assigned={positions0, bars1, orders0, standby}
    )
    asyncio.run(pause_written_changelogs(app))
    assert app.consumer._thread._consumer.paused == {
        TopicPartition("app-positions-changelog", 0),
        TopicPartition("app-bars-changelog", 1),
    }


def test_nothing_to_pause_calls_nothing() -> None:
    app = app_with(paused={TP("orders", 0)}, assigned={TP("orders", 0)})
    asyncio.run(pause_written_changelogs(app))
    assert app.consumer._thread.calls == 0


def test_the_fetch_wait_and_minimum_reach_aiokafkas_fetcher() -> None:
    settings = Settings(fetch_max_wait_ms=5, fetch_min_bytes=8192)
    app = app_with(paused=set(), assigned=set())
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500, _fetch_min_bytes=1)
    app.consumer._thread._consumer._fetcher = fetcher

    set_fetch_limits(app, settings.fetch_max_wait_ms, settings.fetch_min_bytes)

    assert (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (5, 8192)
    assert Settings().fetch_min_bytes == 1  # aiokafka's own default: off unless asked for
