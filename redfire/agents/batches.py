"""Micro-batches from a faust agent's channel, acknowledged only after their unit of work.

faust's ``Stream`` pays its per-event costs (a loop yield, sensors, a context
variable, processors, an ack) for every record, and its ``take_events`` waits
out the whole window even when a batch is ready and acks a batch whose body
raised. An agent here reads its channel the way ``Stream`` does underneath —
the same queue, the same flow-control and generation checks, the same message
tracking — but hands the handler every event already waiting (up to a cap) at
once, and acknowledges the batch only when the handler returned, i.e. when
everything the batch wrote was delivered (``redfire.state.unit``).

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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from faust.types import AppT, EventT, StreamT

from redfire import metrics

log = logging.getLogger(__name__)
EXIT_UNRECOVERABLE = 70  # EX_SOFTWARE: a supervisor restarts the worker

BatchHandler = Callable[[Sequence[EventT[Any]]], Awaitable[None]]


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
    """
    channel = aiter(stream.channel)  # registers the channel with the conductor
    queue = channel.queue  # type: ignore[attr-defined]
    consumer = app.consumer
    sensors = app.sensors
    acking_topics = app.topics.acking_topics  # type: ignore[attr-defined]
    flow_control = app.flow_control
    batch_sizes = metrics.BATCH_EVENTS.labels(name)
    last_batch = metrics.LAST_BATCH.labels(name)
    batch_seconds = metrics.BATCH_SECONDS.labels(name)
    while True:
        try:
            first = await channel.__anext__()
        except StopAsyncIteration:  # the worker is stopping
            return
        events = [first]
        if window_s > 0 and queue.qsize() < max_events:
            await asyncio.sleep(window_s)
        while len(events) < max_events and not queue.empty():
            events.append(queue.get_nowait())
        usable: list[EventT[Any]] = []
        generation = app.consumer_generation_id
        active = flow_control.is_active()
        for event in events:
            message = event.message
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
            if active and message.generation_id == generation:
                usable.append(event)
        batch_sizes.observe(len(events))
        started = time.perf_counter()
        try:
            if usable:
                await handle(usable)
        except Exception as exc:  # the batch's writes may be lost: never ack it
            log.exception("%s: batch of %d events failed", name, len(usable))
            fatal(f"{name}: {exc!r}")
        batch_seconds.observe(time.perf_counter() - started)
        last_batch.set_to_current_time()
        for event in events:
            if event.ack():
                message = event.message
                sensors.on_message_out(message.tp, message.offset, message)
