"""The producer's linger follows the send rate (on a real, unstarted aiokafka producer)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from redfire.streams import linger as linger_module
from redfire.streams import rate
from redfire.streams.linger import AdaptiveLinger


async def test_the_linger_follows_the_send_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", linger_ms=1)
    accumulator = producer._message_accumulator
    app: Any = SimpleNamespace(producer=SimpleNamespace(_producer=producer))
    linger = AdaptiveLinger(app, idle_ms=1, busy_ms=5, busy_rate=1000)
    clock = [1000.0]
    monkeypatch.setattr(rate.time, "monotonic", lambda: clock[0])

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


async def test_send_held_sends_lingering_batches_at_once() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9", linger_ms=5000)
    accumulator = producer._message_accumulator
    app: Any = SimpleNamespace(producer=SimpleNamespace(_producer=producer))
    tp = TopicPartition("order_decisions", 0)
    await accumulator.add_message(tp, b"k", b"decision", timeout=1)
    batch = accumulator._batches[tp][0]
    # As after the sender's last drain: it waits on a fresh future until there is work.
    waiter = accumulator._waiter_future = asyncio.get_running_loop().create_future()
    assert batch.remaining_linger() is not None  # it would linger for 5 s

    linger_module.send_held(app)

    assert batch.remaining_linger() is None  # the sender's next drain takes it
    assert waiter.done()  # and the sender is woken for it
    # A record sent before that drain joins the same batch instead of waiting for it.
    await asyncio.wait_for(accumulator.add_message(tp, b"k", b"next", timeout=1), 1)
    assert list(accumulator._batches[tp]) == [batch] and batch.record_count == 2
