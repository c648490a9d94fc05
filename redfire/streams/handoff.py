"""faust's hand-off of each fetched record, with no task at all when nothing blocks.

``Consumer._drain_messages`` passes every record to the conductor with
``wait_first(callback(message), suspend_flow.wait())``, so that a callback blocked on a
full queue is abandoned when a rebalance suspends the flow. mode's ``wait_first`` makes a
task of each argument and of the service's ``stopped`` and ``crashed`` events, waits for
the first, and cancels the other three: four tasks created and three cancelled for every
record, about a fifth of the pipeline worker's busy time in py-spy.

Here the consumer's ``wait_first`` keeps that contract for that one call. It runs the
callback at once, up to its first suspension: a record whose channel has room (nearly
every one) is handed over there and then, with no task and no trip round the event loop.
With a task each, a record waited for about three loop iterations, and in each of them
for whatever else was ready (a batch of ticks, a snapshot); at 1,000 orders/s that was
most of an order's time to its decision. A callback that does suspend (a full queue)
goes on in a task, raced against one shared "flow interrupted" task, made once and
reused until one of the three events is set. Any other call, and any call while an
event is already set, goes to mode's own.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from faust.types import AppT
from mode.services import WaitResults

_EVENT_WAIT = asyncio.Event.wait.__code__


class FastHandOff:
    """The consumer's ``wait_first``, with a fast path for the per-record hand-off."""

    def __init__(self, consumer: Any, on_record: Callable[[], None] | None = None) -> None:
        self.consumer = consumer
        self.on_record = on_record  # told of every record handed over
        self.original = consumer.wait_first
        self.interrupt: asyncio.Future[Any] | None = None

    def is_hand_off(self, coros: tuple[Any, ...], timeout: Any) -> bool:
        """Whether this is ``_drain_messages``' call: a callback and ``suspend_flow.wait()``."""
        if timeout is not None or len(coros) != 2:
            return False
        callback, suspend = coros
        if not isinstance(callback, types.CoroutineType):
            return False
        if not isinstance(suspend, types.CoroutineType) or suspend.cr_code is not _EVENT_WAIT:
            return False
        frame = suspend.cr_frame
        return frame is not None and frame.f_locals.get("self") is self.consumer.suspend_flow

    def interrupted(self) -> bool:
        consumer = self.consumer
        return bool(
            consumer.suspend_flow.is_set()
            or consumer._stopped.is_set()
            or consumer._crashed.is_set()
        )

    def interrupt_task(self) -> asyncio.Future[Any]:
        """Return the shared task that ends when the flow is suspended or the consumer stops."""
        if self.interrupt is None or self.interrupt.done():
            self.interrupt = asyncio.ensure_future(self.original(self.consumer.suspend_flow))
        return self.interrupt

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        if not self.is_hand_off(coros, timeout) or self.interrupted():
            results: WaitResults = await self.original(*coros, timeout=timeout)
            return results
        callback, suspend = coros
        suspend.close()  # never awaited: the shared interrupt task stands for it
        if self.on_record is not None:
            self.on_record()
        try:
            waiting_on = callback.send(None)
        except StopIteration as finished:  # handed over without waiting
            return WaitResults([callback], [finished.value], False)
        task = asyncio.ensure_future(_resume(callback, waiting_on))
        try:
            while True:
                interrupt = self.interrupt_task()
                await asyncio.wait((task, interrupt), return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    return WaitResults([callback], [task.result()], False)
                if interrupt.cancelled():  # not by an event (the loop closing): wait again
                    continue
                ended: WaitResults = interrupt.result()
                return (
                    WaitResults([], [], True)
                    if ended.stopped
                    else WaitResults([suspend], [None], False)
                )
        finally:
            if not task.done():
                task.cancel()


async def _resume(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Go on with a coroutine already run up to its first suspension, in a task."""
    return await _Resumed(coroutine, waiting_on)


class _Resumed:
    """Hand the task what a started coroutine waits on; pass the task's wake-ups back.

    The coroutine yielded ``waiting_on`` (the future it waits for, or None for a bare
    yield) before any task owned it. Yielding it again from here lets the task wait on
    it exactly as if the task had run that first step; a cancellation the task throws
    in goes on into the coroutine.
    """

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, Any]:
        coroutine, waiting_on = self.coroutine, self.waiting_on
        while True:
            try:
                yield waiting_on
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as thrown:  # a cancellation from the task: passed on
                try:
                    waiting_on = coroutine.throw(thrown)
                except StopIteration as finished:
                    return finished.value
                continue
            try:
                waiting_on = coroutine.send(None)
            except StopIteration as finished:
                return finished.value


def install_fast_hand_off(app: AppT, on_record: Callable[[], None] | None = None) -> None:
    """Give the app's consumer the fast hand-off (once)."""
    consumer = app.consumer
    if isinstance(getattr(consumer, "_redfire_hand_off", None), FastHandOff):
        return
    hand_off = FastHandOff(consumer, on_record)
    consumer._redfire_hand_off = hand_off  # type: ignore[attr-defined]
    consumer.wait_first = hand_off.wait_first  # type: ignore[attr-defined]
