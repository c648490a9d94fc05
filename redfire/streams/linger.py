"""The producer's linger, longer while the worker sends fast.

aiokafka holds a new batch for ``linger_ms`` before it may be sent. A short linger keeps
a decision's wait short when the worker is lightly loaded; under a heavy load it means one
produce request (and its response) for every few records, and those requests cost the
worker more CPU than anything but its own checks. Measured through real Kafka with one
worker (``bench/bench_latency.py``, p99 over echo p99): 1 ms gave 1.7-1.8x at 200 orders/s
but 23-26x at 1,000 orders/s, where the worker fell behind; 5 ms gave 3.6-5.7x at 1,000 but
2.9-3.4x at 200. So the linger follows the send rate: ``idle_ms`` below ``busy_rate``
records a second over the last window, ``busy_ms`` above it.

aiokafka reads the linger when it opens a batch (``MessageAccumulator._linger_time``; no
public setter), so a change applies from the next batch on.

A decision need not wait out the linger at all: ``send_held`` ends the linger of the
batches the producers hold and wakes their sender (aiokafka's ``flush_for_commit`` closes
them instead, which would make the next record for the same partition wait for the drain),
without waiting for the delivery. The order agent calls it after each of its batches, so its
decisions (and the order records written ahead of them) go out in the next produce
request while the other agents' writes keep lingering.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from faust.types import AppT

from redfire.streams.rate import BusyRate

log = logging.getLogger(__name__)


class AdaptiveLinger:
    """Count records sent and switch the producers' linger between two values."""

    def __init__(self, app: AppT, idle_ms: int, busy_ms: int, busy_rate: float) -> None:
        self.app = app
        self.idle_s = idle_ms / 1000
        self.busy_s = busy_ms / 1000
        self.rate = BusyRate(busy_rate)

    @property
    def enabled(self) -> bool:
        return self.busy_s != self.idle_s

    @property
    def busy(self) -> bool:
        return self.rate.busy

    def sent(self) -> None:
        """Note one record sent; at the end of each window, set the linger its rate calls for."""
        if self.rate.note():
            self.apply(self.busy_s if self.rate.busy else self.idle_s)

    def apply(self, linger_s: float) -> None:
        for accumulator in accumulators(self.app):
            accumulator._linger_time = linger_s
        log.debug("producer linger %.0f ms", linger_s * 1000)


def send_held(app: AppT) -> None:
    """Send every batch the producers hold now, lingering or not; do not wait for it."""
    for accumulator in accumulators(app):
        for batches in accumulator._batches.values():
            for batch in batches:
                # No linger left: the sender's next drain takes it. The batch stays open,
                # so a record sent meanwhile joins it rather than waiting for the drain
                # (aiokafka keeps one produce request in flight per broker).
                batch._linger_time = 0.0
        waiter = accumulator._waiter_future
        if not waiter.done():
            waiter.set_result(None)


def accumulators(app: AppT) -> Iterable[Any]:
    """Yield the record accumulators of the aiokafka producers behind faust's.

    That is the plain producer's and any transactional one's (exactly_once).
    """
    producer = app.producer
    plain = getattr(producer, "_producer", None)
    producers = [plain] if plain is not None else []
    producers += getattr(producer, "_transaction_producers", {}).values()
    for each in producers:
        accumulator = getattr(each, "_message_accumulator", None)
        if accumulator is not None:
            yield accumulator
