"""Which changelog partitions a worker stops fetching after a recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from faust.types import TP

from redfire.settings import Settings
from redfire.streams import rate
from redfire.streams.fetching import AdaptiveFetch, pause_written_changelogs, set_fetch_limits


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


def test_fetches_wait_longer_while_records_come_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500, _fetch_min_bytes=1)
    kafka = SimpleNamespace(_fetcher=fetcher)
    app: Any = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=kafka)))
    clock = [1000.0]
    monkeypatch.setattr(rate.time, "monotonic", lambda: clock[0])
    fetch = AdaptiveFetch(app, idle=(20, 1), busy=(3, 4096), busy_rate=1000)
    fetch.reset()
    assert (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (20, 1)

    def hand_over(records: int, seconds: float) -> None:
        for _ in range(records):
            clock[0] += seconds / records
            fetch.fetched()

    hand_over(50, 0.5)  # 100 records/s
    assert (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (20, 1)
    hand_over(300, 0.2)  # 1,500 records/s
    assert fetch.busy and (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (3, 4096)
    hand_over(20, 0.4)  # 50 records/s
    assert not fetch.busy and (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (20, 1)
    hand_over(300, 0.2)
    fetch.reset()  # a recovery: idle again, whatever the rate was
    assert not fetch.busy and (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes) == (20, 1)


def test_equal_fetch_settings_switch_nothing() -> None:
    fetch = AdaptiveFetch(SimpleNamespace(), idle=(20, 1), busy=(20, 1), busy_rate=1000)  # type: ignore[arg-type]
    assert not fetch.enabled
