"""The aiokafka fetch settings the worker changes after each recovery (faust has none).

Each reaches aiokafka through faust's consumer thread (``consumer_thread``).

**The changelogs this worker writes are no longer fetched.** After a recovery
faust stops reading the changelog partitions of the tables the worker owns (the
worker writes them from then on), but only in its own bookkeeping
(``Consumer.pause_partitions``): aiokafka keeps fetching them, so every
changelog record the worker writes is fetched back and left unread. And
aiokafka sends no fetch to a broker while fetched records wait unread, for up to
its prefetch backoff (0.1 s): new orders waited behind those records
(bench_latency: decision p99 several times the echo's at 30 orders/s).

Here the same partitions are paused in aiokafka too. A rebalance gives aiokafka
a new assignment, with nothing paused, so faust's next recovery reads them as
before; standby and global-table changelogs are never paused (faust reads them).

**No fetch is held at the broker long.** aiokafka keeps one fetch under way per
broker. One that went out without a busy partition (its records were still unread
then) waits at the broker until data comes for another of its partitions, or for
the fetch wait, which faust fixes at 1.5 s: new orders of the busy partition waited
as long. ``REDFIRE_FETCH_MAX_WAIT_MS`` sets it (20 ms by default), and
``REDFIRE_FETCH_MIN_BYTES`` how full a fetch may come back early (1 byte, aiokafka's
default; more means fewer fetches, less CPU per event and a little later orders).

**A busy worker fetches less often** (``AdaptiveFetch``). With records always waiting,
a fetch that may return at one byte comes back almost at once, and the next goes out:
at 1,000 orders/s + 2,000 ticks/s about 600 fetches a second, each answering for all
25 partitions the worker reads. aiokafka decodes every answer in Python on faust's
consumer thread, about 0.4-0.7 ms each, holding the interpreter lock the order agent
needs: a fifth of the worker's time went there. Above ``REDFIRE_FETCH_BUSY_RATE``
records a second the fetch waits for ``REDFIRE_FETCH_BUSY_MIN_BYTES`` or at most
``REDFIRE_FETCH_BUSY_MAX_WAIT_MS``; below it the settings above apply again.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition
from faust.types import AppT

from redfire.streams.rate import BusyRate

log = logging.getLogger(__name__)


def consumer_thread(app: AppT) -> tuple[Any, Any] | None:
    """Return faust's consumer thread and the aiokafka consumer it runs, once started."""
    thread: Any = getattr(app.consumer, "_thread", None)
    kafka = getattr(thread, "_consumer", None)
    if thread is None or kafka is None:
        log.warning("faust's aiokafka consumer not found: fetch settings left as they are")
        return None
    return thread, kafka


def set_fetch_limits(app: AppT, wait_ms: int, min_bytes: int = 1) -> None:
    """Hold no fetch at the broker longer than ``wait_ms``, nor once it has ``min_bytes``."""
    found = consumer_thread(app)
    if found is not None:
        fetcher = found[1]._fetcher
        fetcher._fetch_max_wait_ms = wait_ms
        fetcher._fetch_min_bytes = min_bytes


async def pause_written_changelogs(app: AppT) -> None:
    """Pause in aiokafka the changelog partitions faust paused after this recovery."""
    consumer: Any = app.consumer
    changelogs = app.tables.changelog_topics
    assigned = consumer.assignment()
    paused = {
        TopicPartition(tp.topic, tp.partition)
        for tp in consumer._paused_partitions
        if tp.topic in changelogs and tp in assigned
    }
    found = consumer_thread(app) if paused else None
    if found is None:
        return
    thread, kafka = found

    async def pause() -> None:  # on the consumer's thread, where aiokafka runs
        kafka.pause(*paused)

    await thread.call_thread(pause)
    log.info("stopped fetching %d changelog partitions this worker writes", len(paused))


class AdaptiveFetch:
    """Count the records handed to the agents; switch the fetch settings with their rate."""

    def __init__(
        self,
        app: AppT,
        idle: tuple[int, int],
        busy: tuple[int, int],
        busy_rate: float,
    ) -> None:
        """``idle`` and ``busy`` are (max wait ms, min bytes) pairs."""
        self.app = app
        self.idle = idle
        self.busy_limits = busy
        self.rate = BusyRate(busy_rate)

    @property
    def enabled(self) -> bool:
        return self.busy_limits != self.idle

    @property
    def busy(self) -> bool:
        return self.rate.busy

    def reset(self) -> None:
        """Apply the idle settings (after each recovery: aiokafka's fetcher is new)."""
        self.rate.reset()
        set_fetch_limits(self.app, *self.idle)

    def fetched(self) -> None:
        """Note one record handed over; at the end of each window, apply what its rate calls for."""
        if self.rate.note():
            set_fetch_limits(self.app, *(self.busy_limits if self.busy else self.idle))
            log.debug("fetch settings %s", "busy" if self.busy else "idle")
