"""Micro-batches from a faust agent's channel, acknowledged only after their unit of work.

faust's ``Stream`` pays its per-event costs (a loop yield, sensors, a context
variable, processors, an ack) for every record, and its ``take_events`` waits
out the whole window even when a batch is ready and acks a batch whose body
raised. An agent here reads its channel the way ``Stream`` does underneath —
the same queue, the same flow-control and generation checks, the same message
tracking — but hands the handler every event waiting (up to a cap) at once,
and acknowledges the batch only when everything it wrote was delivered
(``redfire.state.unit``).

If the handler raises, the batch is *not* acknowledged: the worker exits
non-zero (``fatal``), so its inputs are delivered again after a restart
instead of being committed past. Handlers dead-letter a bad record inside the
batch; only a broken setup or an undeliverable write reaches this point.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from faust.types import AppT, EventT, StreamT

from redfire import metrics

log = logging.getLogger(__name__)
EXIT_UNRECOVERABLE = 70  # EX_SOFTWARE: a supervisor restarts the worker

BatchHandler = Callable[[Sequence[EventT[Any]]], Awaitable[Awaitable[None] | None]]
# Batches whose writes may be waiting for delivery at once, per agent.
MAX_IN_FLIGHT = 16


def fatal(reason: str) -> NoReturn:
    """Stop the worker at once, committing nothing more: a supervisor restarts it."""
    log.critical("stopping the worker without committing: %s", reason)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_UNRECOVERABLE)


async def run_batches(
    app: AppT,
    stream: StreamT[Any],
    handle: BatchHandler,
    max_events: int,
    name: str,
    window_s: float = 0.0,
) -> None:
    """Feed ``handle`` the agent's events, batch after batch.

    A batch starts with the first event to arrive and takes every event that
    arrives within ``window_s`` after it (at most ``max_events``). faust hands
    the channel one event at a time, so without a window a busy agent would
    wake, and write its state, for every event; orders use no window.

    ``handle`` returns the wait for the batch's writes; the batch is
    acknowledged when they are delivered, while the next batches go on (at
    most ``MAX_IN_FLIGHT`` batches wait at once): a decision never waits for
    the previous batch's broker round trip.
    """
    reader = _Reader(app, stream, name)
    in_flight: deque[asyncio.Future[None]] = deque()
    while True:
        try:
            events = await reader.next_batch(max_events, window_s)
        except StopAsyncIteration:  # the worker is stopping
            return
        if not events:
            continue
        started = time.perf_counter()
        try:
            delivered = await handle(events)
        except Exception as exc:  # the batch's writes may be lost: never ack it
            log.exception("%s: batch of %d events failed", name, len(events))
            fatal(f"{name}: {exc!r}")
        in_flight.append(asyncio.ensure_future(reader.finish(delivered, events, started)))
        while in_flight and (len(in_flight) > MAX_IN_FLIGHT or in_flight[0].done()):
            await in_flight.popleft()


class _Reader:
    """One agent's channel: batches of events, tracked and acked as faust's Stream does."""

    def __init__(self, app: AppT, stream: StreamT[Any], name: str) -> None:
        self.app = app
        self.name = name
        self.channel = aiter(stream.channel)  # registers the channel with the conductor
        self.queue = self.channel.queue  # type: ignore[attr-defined]
        # faust empties every agent queue when flow resumes. During recovery it resumes
        # flow while the input partitions are already fetching again, and the events it
        # then drops are past the fetch position: never read again, and once later events
        # are acked, committed past. Here an event taken from another consumer generation
        # (or while flow is stopped) is dropped unacked instead (``usable``), so the queue
        # needs no emptying, and nothing fetched in the new generation is lost.
        app.flow_control._queues.discard(self.queue)
        self.acking_topics = app.topics.acking_topics  # type: ignore[attr-defined]
        self.batch_sizes = metrics.BATCH_EVENTS.labels(name)
        self.batch_seconds = metrics.BATCH_SECONDS.labels(name)
        self.last_batch = metrics.LAST_BATCH.labels(name)

    async def next_batch(self, max_events: int, window_s: float) -> list[EventT[Any]]:
        """Return the next batch of events this worker may process, each tracked for its ack.

        Events taken before a rebalance (an old consumer generation, or flow stopped) are
        dropped neither tracked nor acked: the partition's owner reads them again from the
        committed offset. Acking one would let the commit pass an event never processed.
        """
        queue = self.queue
        events = [await self.channel.__anext__()]
        if window_s > 0 and queue.qsize() < max_events:
            await asyncio.sleep(window_s)
        while len(events) < max_events and not queue.empty():
            events.append(queue.get_nowait())
        events = self.usable(events)
        consumer = self.app.consumer
        for event in events:
            message = event.message
            if message.topic in self.acking_topics and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
        if events:
            self.batch_sizes.observe(len(events))
        return events

    def usable(self, events: list[EventT[Any]]) -> list[EventT[Any]]:
        """Drop events of an old consumer generation or taken while flow is stopped."""
        app = self.app
        if not app.flow_control.is_active():
            return []
        generation = app.consumer_generation_id
        return [e for e in events if e.message.generation_id == generation]

    async def finish(
        self, delivered: Awaitable[None] | None, events: list[EventT[Any]], started: float
    ) -> None:
        """Acknowledge the batch once everything it wrote is delivered."""
        if delivered is not None:
            try:
                await delivered
            except Exception as exc:  # never ack past a lost write
                log.exception("%s: the writes of a batch were not delivered", self.name)
                fatal(f"{self.name}: {exc!r}")
        self.batch_seconds.observe(time.perf_counter() - started)
        self.last_batch.set_to_current_time()
        sensors = self.app.sensors
        for event in events:
            if event.ack():
                message = event.message
                sensors.on_message_out(message.tp, message.offset, message)
