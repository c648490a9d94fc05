"""faust's per-partition delivery, without decoding, for topics read as raw bytes.

For every fetched record faust's conductor runs a handler built per topic
partition: wait out flow control and the producer buffer, decode the record
through the channel's schema, make an ``Event``, and put it on each subscribed
channel's queue. Every RedFire input topic is read as raw bytes by one agent
(``redfire.streams.topics.raw_topic``): there the decode returns the record's
own key and value after a trip through the serializer registry (two codec
lookups, two payload preparations and a settings read per record), about a
twentieth of the worker's main thread at 1,000 orders/s.

For a partition whose one channel is such a topic, ``RawDelivery`` makes the
same ``Event`` from the record's key and value directly. It keeps everything
else faust's handler does, in the same order: flow control (suspended during a
rebalance), the producer buffer's ebb (checked only when that buffer holds
anything), the message's reference count, the queue's pressure callbacks that
pause fetching, and a full queue's blocking put. Any other partition, and a
partition whose channels change, gets faust's own handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableSet
from typing import Any

from faust.types import TP, AppT

Handler = Callable[[Any], Awaitable[None]]


def reads_raw_bytes(channel: Any) -> bool:
    """Whether ``channel`` is a topic whose key and value are raw bytes, untyped beyond that."""
    schema = getattr(channel, "schema", None)
    if schema is None or not hasattr(channel, "topics"):
        return False
    return bool(
        channel.key_type is bytes
        and channel.value_type is bytes
        and schema.key_serializer == "raw"
        and schema.value_serializer == "raw"
    )


class RawDelivery:
    """Deliver one partition's records to its one raw-bytes topic, undecoded."""

    def __init__(self, app: AppT, tp: TP, channels: MutableSet[Any], general: Handler) -> None:
        self.app = app
        self.tp = tp
        self.channels = channels
        (self.channel,) = channels
        self.general = general  # faust's handler, for when the channels change
        conf: Any = app.conf
        self.event: Callable[..., Any] = conf.Event
        self.acquire_flow_control = app.flow_control.acquire
        self.producer_buffer = app.producer.buffer
        # The buffer's size reads a setting per call; unthreaded, it is the pending queue's.
        self.threaded_producer = bool(conf.producer_threaded)
        self.on_topic_buffer_full = app.sensors.on_topic_buffer_full
        self.consumer = app.consumer

    async def __call__(self, message: Any) -> None:
        channels = self.channels
        if len(channels) != 1 or self.channel not in channels:
            await self.general(message)
            return
        await self.acquire_flow_control()
        if self.threaded_producer or self.producer_buffer.pending.qsize():
            await self.producer_buffer.wait_until_ebb()
        message.refcount += 1  # message.incref(1)
        channel = self.channel
        event = self.event(self.app, message.key, message.value, message.headers, message)
        queue = channel.queue
        if queue.full():
            self.on_topic_buffer_full(self.tp)
            await channel.put(event)
            return
        queue.put_nowait_enhanced(
            event,
            on_pressure_high=self.on_pressure_high,
            on_pressure_drop=self.on_pressure_drop,
        )

    def on_pressure_high(self) -> None:
        self.on_topic_buffer_full(self.tp)
        self.consumer.on_buffer_full(self.tp)

    def on_pressure_drop(self) -> None:
        self.consumer.on_buffer_drop(self.tp)


def install_raw_delivery(app: AppT) -> None:
    """Build raw-bytes partitions' handlers as ``RawDelivery`` from now on (once)."""
    conductor: Any = app.topics  # faust's conductor
    if getattr(conductor, "_redfire_raw_delivery", False):
        return
    general_build = conductor._build_handler

    def build(tp: TP, channels: MutableSet[Any]) -> Handler:
        general: Handler = general_build(tp, channels)
        if len(channels) == 1 and reads_raw_bytes(next(iter(channels))):
            return RawDelivery(app, tp, channels, general)
        return general

    conductor._build_handler = build
    conductor._redfire_raw_delivery = True
