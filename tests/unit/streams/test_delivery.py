"""Raw-bytes partitions get faust's delivery without the decode, and the same events."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.types import TP, Message

from redfire.streams.delivery import RawDelivery, install_raw_delivery, reads_raw_bytes


def app_with_topics() -> tuple[faust.App, Any, Any]:
    app = faust.App("delivery-test", broker="kafka://127.0.0.1:1", store="memory://")
    raw = app.topic("orders", key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw")  # fmt: skip
    typed = app.topic("commands", value_type=str, value_serializer="raw")
    app.flow_control.resume()  # as after a recovery
    return app, raw, typed


def message(topic: str, key: bytes | None, value: bytes | None) -> Message:
    return Message(topic, 3, 41, 1.0, 0, [("h", b"v")], key, value, None)


def test_only_raw_bytes_topics_are_delivered_undecoded() -> None:
    app, raw, typed = app_with_topics()
    assert reads_raw_bytes(raw)
    assert not reads_raw_bytes(typed)
    install_raw_delivery(app)
    conductor: Any = app.topics
    assert isinstance(conductor._build_handler(TP("orders", 3), {raw}), RawDelivery)
    assert not isinstance(conductor._build_handler(TP("commands", 3), {typed}), RawDelivery)
    assert not isinstance(conductor._build_handler(TP("orders", 3), {raw, typed}), RawDelivery)


@pytest.mark.parametrize("key, value", [(b"ACC-1", b'{"order_id":"o-1"}'), (None, None)])
async def test_the_event_is_the_one_faust_decodes(key: bytes | None, value: bytes | None) -> None:
    app, raw, _ = app_with_topics()
    install_raw_delivery(app)
    conductor: Any = app.topics
    handler = conductor._build_handler(TP("orders", 3), {raw})
    ours = message("orders", key, value)
    await handler(ours)
    event = raw.queue.get_nowait()
    fausts = await raw.decode(message("orders", key, value), propagate=True)
    assert type(event) is type(fausts)
    assert (event.key, event.value, event.headers) == (fausts.key, fausts.value, fausts.headers)
    assert event.message is ours and ours.refcount == 1


async def test_a_partition_whose_channels_changed_goes_to_fausts_handler() -> None:
    app, raw, typed = app_with_topics()
    install_raw_delivery(app)
    conductor: Any = app.topics
    channels = {raw}
    handler = conductor._build_handler(TP("orders", 3), channels)
    general: list[Message] = []

    async def fausts(msg: Message) -> None:
        general.append(msg)

    handler.general = fausts
    channels.add(typed)
    sent = message("orders", b"k", b"v")
    await handler(sent)
    assert general == [sent] and raw.queue.empty()


async def test_suspended_flow_holds_the_record_back() -> None:
    app, raw, _ = app_with_topics()
    install_raw_delivery(app)
    conductor: Any = app.topics
    handler = conductor._build_handler(TP("orders", 3), {raw})
    app.flow_control.suspend()  # a rebalance
    delivering = asyncio.ensure_future(handler(message("orders", b"k", b"v")))
    for _ in range(3):
        await asyncio.sleep(0)  # loop turns, not time: the handler waits on flow control
    assert not delivering.done() and raw.queue.empty()
    app.flow_control.resume()
    await delivering
    assert raw.queue.get_nowait().value == b"v"
