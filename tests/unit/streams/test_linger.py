"""The producer's linger follows the send rate (on a real, unstarted aiokafka producer)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from redfire.streams import linger as linger_module
from redfire.streams.linger import AdaptiveLinger


async def test_the_linger_follows_the_send_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", linger_ms=1)
    accumulator = producer._message_accumulator
    app: Any = SimpleNamespace(producer=SimpleNamespace(_producer=producer))
    linger = AdaptiveLinger(app, idle_ms=1, busy_ms=5, busy_rate=1000)
    clock = [1000.0]
    monkeypatch.setattr(linger_module.time, "monotonic", lambda: clock[0])

    def send(records: int, seconds: float) -> None:
        for _ in range(records):
            clock[0] += seconds / records
            linger.sent()

    send(50, 0.5)  # 100 records/s
    assert accumulator._linger_time == pytest.approx(0.001)
    send(300, 0.2)  # 1,500 records/s
    assert linger.busy and accumulator._linger_time == pytest.approx(0.005)
    send(20, 0.4)  # 50 records/s
    assert not linger.busy and accumulator._linger_time == pytest.approx(0.001)


def test_equal_lingers_switch_nothing() -> None:
    linger = AdaptiveLinger(SimpleNamespace(), idle_ms=1, busy_ms=1, busy_rate=1000)  # type: ignore[arg-type]
    assert not linger.enabled
