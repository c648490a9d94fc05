"""The live hub without Kafka: buffering, fan-out, dropping a slow client, decoding outputs.

The socket tests run ``serve_socket`` in a real aiohttp server on 127.0.0.1 with real
WebSocket clients; only the Kafka reader is left out (the integration test covers it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web as aiohttp_web
from aiohttp.test_utils import TestServer

from redfire.schemas.codec import encode_avro, encode_json
from redfire.schemas.records import RiskAlert, RiskSnapshot, SnapshotPosition
from redfire.settings import Settings
from redfire.web.live import (
    CLOSE,
    LiveHub,
    OutputReader,
    RecentBuffer,
    Subscriber,
    encode_message,
    serve_socket,
)
from tests.support.eventually import eventually_async


def snapshot(account: str, ts: int, var_99: float = 100.0) -> dict[str, Any]:
    return {"account": account, "ts": ts, "var_99": var_99}


def test_message_format() -> None:
    assert json.loads(encode_message("alert", {"rule_id": "r"})) == {
        "type": "alert",
        "data": {"rule_id": "r"},
    }


def test_buffer_keeps_the_latest_snapshot_per_account_and_bounded_feeds() -> None:
    buffer = RecentBuffer(recent=3, snapshot_history=4)
    for ts in (1, 3, 2):  # an older snapshot arriving late does not replace the newer one
        buffer.add("snapshot", snapshot("A", ts), encode_message("snapshot", snapshot("A", ts)))
    buffer.add("snapshot", snapshot("B", 5), encode_message("snapshot", snapshot("B", 5)))
    for n in range(10):
        buffer.add("alert", {"n": n}, encode_message("alert", {"n": n}))
        buffer.add("decision", {"n": n}, encode_message("decision", {"n": n}))
    replay = [json.loads(m) for m in buffer.replay()]
    history = [m["data"]["ts"] for m in replay[:4]]
    latest = [(m["data"]["account"], m["data"]["ts"]) for m in replay[4:6]]
    assert history == [1, 3, 2, 5]
    assert latest == [("A", 3), ("B", 5)]
    assert [m["data"]["n"] for m in replay if m["type"] == "alert"] == [7, 8, 9]
    assert [m["data"]["n"] for m in replay if m["type"] == "decision"] == [7, 8, 9]


def test_a_full_queue_drops_the_backlog_and_asks_to_close() -> None:
    subscriber = Subscriber(limit=2)
    assert subscriber.offer("a") and subscriber.offer("b")
    assert not subscriber.offer("c")
    assert subscriber.dropped
    assert subscriber.queue.qsize() == 1 and subscriber.queue.get_nowait() == CLOSE


def test_hub_drops_only_the_client_that_lags() -> None:
    hub = LiveHub(client_queue=3, recent=10, snapshot_history=10)
    slow, _ = hub.subscribe()
    fast, _ = hub.subscribe()
    for n in range(5):
        hub.publish("decision", {"n": n})
        fast.queue.get_nowait()  # the fast client keeps up
    assert slow.dropped and slow not in hub.subscribers
    assert not fast.dropped and fast in hub.subscribers
    assert hub.dropped_clients == 1 and hub.published == 5


def test_subscribe_returns_what_was_buffered() -> None:
    hub = LiveHub(client_queue=10, recent=10, snapshot_history=10)
    hub.publish("snapshot", snapshot("A", 1))
    hub.publish("alert", {"alert_id": "x"})
    subscriber, replay = hub.subscribe()
    assert [json.loads(m)["type"] for m in replay] == ["snapshot", "snapshot", "alert"]
    assert subscriber.queue.empty()


def test_the_hub_is_watched_while_a_client_is_connected() -> None:
    hub = LiveHub(client_queue=2, recent=10, snapshot_history=10)
    assert not hub.watched.is_set() and hub.idle_for() > 0  # the reader waits
    first, _ = hub.subscribe()
    second, _ = hub.subscribe()
    assert hub.watched.is_set() and hub.idle_for() == 0.0
    hub.unsubscribe(first)
    assert hub.watched.is_set()  # one client is still there
    for n in range(3):  # the second never reads: dropped, and nobody is left
        hub.publish("decision", {"n": n})
    assert second.dropped
    assert hub.idle_for() >= 0.0 and not hub.watched.is_set()


def test_a_cleared_buffer_replays_nothing() -> None:
    hub = LiveHub(client_queue=10, recent=10, snapshot_history=10)
    hub.publish("snapshot", snapshot("A", 1))
    hub.publish("decision", {"order_id": "o"})
    hub.buffer.clear()  # the reader stopped: it reads the backlog again when it starts
    _, replay = hub.subscribe()
    assert replay == []
    hub.publish("snapshot", snapshot("A", 2))
    _, replay = hub.subscribe()
    assert [json.loads(m)["data"]["ts"] for m in replay] == [2, 2]


def sample_snapshot() -> RiskSnapshot:
    return RiskSnapshot(
        account="ACC1",
        ts=1_700_000_000_000,
        equity=1e6,
        cash=9e5,
        gross_exposure=1e5,
        net_exposure=1e5,
        leverage=0.1,
        realized_pnl=0.0,
        unrealized_pnl=10.0,
        daily_pnl=10.0,
        drawdown=0.0,
        var_method="historical",
        concentration=1.0,
        trading_state="ACTIVE",
        var_95=1000.0,
        var_99=1500.0,
        es_975=1600.0,
        positions=(SnapshotPosition("AAPL", 100, 190.0, 0.0, 19_000.0),),
    )


@pytest.mark.parametrize("encode", ["json", "avro"])
def test_reader_decodes_json_and_avro_outputs(encode: str) -> None:
    hub = LiveHub(client_queue=10, recent=10, snapshot_history=10)
    reader = OutputReader(Settings(topic_prefix="t-"), hub)
    record = sample_snapshot()
    raw = encode_json(record) if encode == "json" else encode_avro(record, "risk_snapshot")
    reader.handle("t-risk_metrics", raw)
    alert = RiskAlert("a1", "r1", "ACC1", "var_99", 2.0, 1.0, ">", "WARNING", "FIRING", "m", 5)
    raw_alert = encode_json(alert) if encode == "json" else encode_avro(alert, "risk_alert")
    reader.handle("t-risk_alerts", raw_alert)
    reader.handle("t-order_decisions", b"\x00\x00\x00\x00\x04garbage")
    _, replay = hub.subscribe()
    messages = [json.loads(m) for m in replay]
    first = messages[0]
    assert first["type"] == "snapshot"
    assert first["data"]["var_99"] == 1500.0
    assert first["data"]["positions"][0]["symbol"] == "AAPL"
    assert messages[-1]["type"] == "alert" and messages[-1]["data"]["state"] == "FIRING"
    assert reader.undecodable == 1


# --- the WebSocket, served for real ---------------------------------------------------------


@pytest.fixture
async def socket_server() -> AsyncIterator[tuple[LiveHub, str]]:
    hub = LiveHub(client_queue=20, recent=10, snapshot_history=10)

    async def handler(request: aiohttp_web.Request) -> aiohttp_web.StreamResponse:
        return await serve_socket(request, hub)  # type: ignore[arg-type]

    application = aiohttp_web.Application()
    application.router.add_get("/ws", handler)
    server = TestServer(application, host="127.0.0.1")
    await server.start_server()
    try:
        yield hub, str(server.make_url("/ws"))
    finally:
        await server.close()


async def test_socket_sends_the_buffer_then_live_messages(
    socket_server: tuple[LiveHub, str],
) -> None:
    hub, url = socket_server
    hub.publish("alert", {"alert_id": "before"})
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        first = await ws.receive_json(timeout=5)
        assert first == {"type": "alert", "data": {"alert_id": "before"}}
        await eventually_async(lambda: len(hub.subscribers) == 1, timeout=5)
        hub.publish("decision", {"order_id": "o1"})
        assert await ws.receive_json(timeout=5) == {"type": "decision", "data": {"order_id": "o1"}}
    await eventually_async(lambda: not hub.subscribers, timeout=5, message="client forgotten")


async def test_socket_closes_a_client_that_does_not_read(
    socket_server: tuple[LiveHub, str],
) -> None:
    hub, url = socket_server
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await eventually_async(lambda: len(hub.subscribers) == 1, timeout=5)
        subscriber = next(iter(hub.subscribers))
        # The sender is blocked on nothing here, so overflow the queue directly and in one go.
        for n in range(hub.client_queue + 1):
            hub.publish("decision", {"n": n, "pad": "x" * 100})
        assert subscriber.dropped
        closed = None
        while closed is None:
            message = await ws.receive(timeout=5)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                closed = message
        assert ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert hub.dropped_clients == 1


async def test_many_clients_each_get_every_message(socket_server: tuple[LiveHub, str]) -> None:
    hub, url = socket_server
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url) for _ in range(5)]
        await eventually_async(lambda: len(hub.subscribers) == 5, timeout=5)
        for n in range(10):
            hub.publish("decision", {"n": n})
        for ws in sockets:
            got = [(await ws.receive_json(timeout=5))["data"]["n"] for _ in range(10)]
            assert got == list(range(10))
            await ws.close()
