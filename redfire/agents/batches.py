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
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from faust.types import TP, AppT, EventT, StreamT

from redfire import metrics

log = logging.getLogger(__name__)
EXIT_UNRECOVERABLE = 70  # EX_SOFTWARE: a supervisor restarts the worker

BatchHandler = Callable[[Sequence[EventT[Any]]], Awaitable[Awaitable[None] | None]]
# Batches whose writes may be waiting for delivery at once, per agent.
MAX_IN_FLIGHT = 16
# A partition whose next event skips offsets is sought back to the first one skipped, at
# most this often: records of a fetch already under way keep arriving (and move faust's
# read offset on) after a seek, so one seek may be undone. A gap is believed once seeks
# back to the same offset show it again: a gap of one offset (a transaction marker)
# after SMALL_GAP_SEEKS, a larger one (aborted transactions, records deleted by
# retention) after MAX_SEEKS.
SEEK_AGAIN_S = 1.0
SMALL_GAP_SEEKS = 2
MAX_SEEKS = 5
# (when, how often in a row, to which offset) for a partition not sought back yet.
NEVER_SOUGHT = (-SEEK_AGAIN_S, 0, -1)


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
        previous = in_flight[-1] if in_flight else None
        in_flight.append(asyncio.ensure_future(reader.finish(delivered, events, started, previous)))
        while in_flight and (len(in_flight) > MAX_IN_FLIGHT or in_flight[0].done()):
            await in_flight.popleft()


def _watch(app: AppT) -> _SeekWatch:
    """Return the app's seek watch (one per consumer), installing it on first use."""
    consumer = app.consumer
    watch = _SEEKS.get(consumer)
    if watch is None:
        watch = _SEEKS[consumer] = _SeekWatch(app)
    return watch


class _SeekWatch:
    """Note the consumer generation each time faust's ``perform_seek`` completes, and
    take over faust's offset-gap bookkeeping.

    faust records a gap whenever a partition's next record is more than one offset
    past the last one it read, and its commit treats the offsets in a gap as done.
    Records of a fetch under way still arrive after a seek back, so faust would
    record the events between the seek and them as a gap, and could commit past
    them unprocessed. Here faust records no gap; an agent records the gaps it sees
    while following its partition contiguously from the committed offset (``gap``).
    """

    def __init__(self, app: AppT) -> None:
        self.generation = -1
        consumer = app.consumer
        perform_seek = consumer.perform_seek
        self.add_gap = consumer._add_gap  # type: ignore[attr-defined]

        async def no_gap(tp: TP, offset_from: int, offset_to: int) -> None:
            return None

        consumer._add_gap = no_gap  # type: ignore[attr-defined]

        async def seek_and_note() -> None:
            generation = app.consumer_generation_id
            try:
                await perform_seek()
            finally:  # faust goes on after a failed seek: so do the agents (``continues``)
                self.generation = generation

        consumer.perform_seek = seek_and_note  # type: ignore[method-assign]


_SEEKS: weakref.WeakKeyDictionary[Any, _SeekWatch] = weakref.WeakKeyDictionary()


class _Reader:
    """One agent's channel: batches of events, tracked and acked as faust's Stream does.

    An event is handed out only when it continues its partition from the committed
    offset. faust seeks each input partition back to its committed offset at the end
    of a rebalance and empties agent queues when flow resumes; records fetched while
    that happens can be stale (fetched before the seek: read again after it) or lost
    (fetched after the seek, then emptied, or dropped below faust's read offset: the
    fetch position is past them). faust's commit tolerates a gap of one offset, so a
    lost event could be committed past.
    Here nothing is handed out before that seek is done, and a partition's events
    are handed out only as a contiguous run: the first one in a consumer generation
    at the committed offset, each later one right after the one before (or past it
    when seeking back shows the same gap again: offsets without records). When an
    event skips offsets, the partition is sought back to the first one skipped and
    its events are dropped until that one arrives (the scale-out test lost a fill
    mid-generation, next to a seek of another partition, before this). Swallowed
    events at the end of what was produced leave no later event to show the gap, so
    an agent idle for ``SEEK_AGAIN_S`` compares each partition's fetch position with
    the offset it expects next (the failed-send test lost two fills per account so).
    Dropped events are never acked: they are read again.
    """

    def __init__(self, app: AppT, stream: StreamT[Any], name: str) -> None:
        self.app = app
        self.name = name
        self.channel = aiter(stream.channel)  # registers the channel with the conductor
        self.queue = self.channel.queue  # type: ignore[attr-defined]
        self.acking_topics = app.topics.acking_topics  # type: ignore[attr-defined]
        self.batch_sizes = metrics.BATCH_EVENTS.labels(name)
        self.batch_seconds = metrics.BATCH_SECONDS.labels(name)
        self.last_batch = metrics.LAST_BATCH.labels(name)
        # faust's seeks, watched from the start: an agent takes nothing from a consumer
        # generation until faust's seek to the committed offsets that ends it is done.
        self.watch = _watch(app)
        self.topics = set(stream.channel.topics)  # type: ignore[attr-defined]
        # Compaction leaves offsets without records all through a topic (``continues``).
        self.compacted = bool(getattr(stream.channel, "compacting", False))
        # Next offset to hand out per partition, for the consumer generation below.
        self.generation = -1
        self.next_offset: dict[TP, int] = {}
        # Partitions that skipped offsets (to seek back to the first one skipped), and
        # per partition when this reader last sought it back, how often in a row to the
        # same offset, and to which.
        self.behind: dict[TP, int] = {}
        self.sought: dict[TP, tuple[float, int, int]] = {}
        # Offset ranges without records found in the current batch, for faust's commit.
        self.gaps: list[tuple[TP, int, int]] = []

    async def next_batch(self, max_events: int, window_s: float) -> list[EventT[Any]]:
        """Return the next batch of events this worker may process, each tracked for its ack."""
        queue = self.queue
        events = [await self.next_event()]
        if window_s > 0 and queue.qsize() < max_events:
            await asyncio.sleep(window_s)
        while len(events) < max_events and not queue.empty():
            events.append(queue.get_nowait())
        events = await self.usable(events)
        consumer = self.app.consumer
        for event in events:
            message = event.message
            if message.topic in self.acking_topics and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
        if events:
            self.batch_sizes.observe(len(events))
        return events

    async def next_event(self) -> EventT[Any]:
        """Wait for the next event; every ``SEEK_AGAIN_S`` without one, look for partitions
        whose events were swallowed, and seek them back.

        faust can swallow records around a rebalance (see the class) after this agent
        has taken the ones before them; if nothing more is produced to the partition, no
        later event comes to show the gap, so an idle agent looks for it.
        """
        queue = self.queue
        while queue.empty():
            try:
                async with asyncio.timeout(SEEK_AGAIN_S):  # no task per wait, as wait_for has
                    event: EventT[Any] = await queue.get()
                return event
            except TimeoutError:
                await self.find_swallowed()
                await self.seek_back()
        return queue.get_nowait()  # type: ignore[no-any-return]

    def new_generation(self, generation: int) -> None:
        self.generation = generation
        self.next_offset, self.behind, self.sought = {}, {}, {}

    def partitions(self) -> set[TP]:
        """This agent's input partitions assigned to this worker."""
        topics = self.topics
        return {tp for tp in self.app.consumer.assignment() if tp.topic in topics}

    async def find_swallowed(self) -> None:
        """Mark as behind each partition whose fetch position is past the next event this
        agent expects, while it has nothing waiting: faust swallowed the events between.

        A position past the expected offset with no records there (a transaction marker
        at the end of a partition) is believed, as a gap is, once seeks back show it again.
        """
        app = self.app
        generation = app.consumer_generation_id
        if not self.queue.empty() or not app.flow_control.is_active():
            return
        if self.watch.generation != generation:
            return
        if self.generation != generation:
            self.new_generation(generation)
        consumer = app.consumer
        for tp in self.partitions():
            if tp in self.behind:
                continue
            expected = self.next_offset.get(tp)
            if expected is None:
                expected = self.committed(tp)
            try:
                read = await consumer.position(tp)
            except Exception:  # revoked meanwhile: the next rebalance's seek covers it
                continue
            if read is None or read <= expected:
                continue
            if self.gap_is_suspect(tp, expected, read - expected):
                self.behind[tp] = expected

    async def usable(self, events: list[EventT[Any]]) -> list[EventT[Any]]:
        """Keep the events that continue their partitions; drop (never ack) the others."""
        app = self.app
        generation = app.consumer_generation_id
        if not app.flow_control.is_active() or self.watch.generation != generation:
            self.report_dropped(events, "taken before the seek that ends a rebalance")
            return []
        if generation != self.generation:
            self.new_generation(generation)
        kept: list[EventT[Any]] = []
        stale: list[EventT[Any]] = []
        self.gaps.clear()
        for event in events:
            if self.continues(event.message):
                kept.append(event)
            else:
                stale.append(event)
        self.report_dropped(stale, "not continuing its partition")
        for tp, first, last in self.gaps:
            await self.watch.add_gap(tp, first, last)  # faust's commit skips them
        if self.behind:
            await self.seek_back()
        return kept

    def continues(self, message: Any) -> bool:
        """Whether ``message`` is the next one of its partition (and note it if so).

        The first event of a partition in a generation must be at the committed offset,
        each later one right after the one before: faust can lose records around a
        rebalance (a fetch under way, queues emptied on resume) and commit past them.
        """
        if message.generation_id != self.generation:
            return False
        tp = message.tp
        expected = self.next_offset.get(tp)
        first = expected is None
        if expected is None:
            expected = self.committed(tp)
        if message.offset < expected:
            return False  # already committed, or a second copy fetched again by a seek
        if message.offset > expected:
            believed = self.compacted and not first  # compaction removed records there
            if not believed and self.gap_is_suspect(tp, expected, message.offset - expected):
                self.behind[tp] = expected  # read again from the first offset skipped
                return False
            self.gaps.append((tp, expected, message.offset - 1))
        self.behind.pop(tp, None)
        self.next_offset[tp] = message.offset + 1
        return True

    def committed(self, tp: TP) -> int:
        """The partition's committed offset (0 when none: the seek went to the start)."""
        committed = self.app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
        return 0 if committed is None else int(committed)

    def gap_is_suspect(self, tp: TP, offset: int, size: int) -> bool:
        """Whether ``size`` offsets from ``offset`` may hold events that were lost, rather
        than no records: until seeks back to ``offset`` have shown the same gap."""
        _when, seeks, sought_to = self.sought.get(tp, NEVER_SOUGHT)
        if sought_to != offset:
            seeks = 0
        return seeks < (SMALL_GAP_SEEKS if size == 1 else MAX_SEEKS)

    async def seek_back(self) -> None:
        """Seek the partitions that are behind to the first offset they skipped (at most
        every ``SEEK_AGAIN_S``)."""
        if self.app.consumer_generation_id != self.generation:
            self.behind.clear()  # a rebalance came: faust seeks every partition itself
            return
        now = time.monotonic()
        seeks = {
            tp: offset
            for tp, offset in self.behind.items()
            if now - self.sought.get(tp, NEVER_SOUGHT)[0] >= SEEK_AGAIN_S
        }
        if not seeks:
            return
        for tp in seeks:
            _when, count, sought_to = self.sought.get(tp, NEVER_SOUGHT)
            self.sought[tp] = (now, count + 1 if sought_to == seeks[tp] else 1, seeks[tp])
        log.warning(
            "%s: %s skipped; reading them again from there",
            self.name,
            ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in seeks.items()),
        )
        # On the consumer's own thread, as faust's seeks are (aiokafka is not thread-safe).
        try:
            await self.app.consumer.seek_wait(seeks)
        except Exception:  # e.g. revoked meanwhile: the next rebalance's seek covers it
            log.warning("%s: seeking back failed; trying again", self.name, exc_info=True)

    def report_dropped(self, events: list[EventT[Any]], why: str) -> None:
        if not events:
            return
        first = events[0].message
        log.info(
            "%s: %d events %s dropped, to be read again (first %s[%d]@%d, generation %d, now %d)",
            self.name,
            len(events),
            why,
            first.topic,
            first.partition,
            first.offset,
            first.generation_id,
            self.app.consumer_generation_id,
        )

    async def finish(
        self,
        delivered: Awaitable[None] | None,
        events: list[EventT[Any]],
        started: float,
        previous: asyncio.Future[None] | None,
    ) -> None:
        """Acknowledge the batch once everything it wrote is delivered and the batch
        before it is acknowledged (faust commits past a gap of one offset)."""
        if delivered is not None:
            try:
                await delivered
            except Exception as exc:  # never ack past a lost write
                log.exception("%s: the writes of a batch were not delivered", self.name)
                fatal(f"{self.name}: {exc!r}")
        if previous is not None:
            await previous
        self.batch_seconds.observe(time.perf_counter() - started)
        self.last_batch.set_to_current_time()
        sensors = self.app.sensors
        for event in events:
            if event.ack():
                message = event.message
                sensors.on_message_out(message.tp, message.offset, message)
