"""The per-record hand-off keeps mode's ``wait_first`` contract, on a real mode service."""

from __future__ import annotations

import asyncio

import pytest
from mode import Service

from redfire.streams.handoff import FastHandOff, install_fast_hand_off


class Consumer(Service):
    """What the hand-off uses of faust's consumer: a mode service with ``suspend_flow``."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def consumer_with_hand_off() -> Consumer:
    consumer = Consumer()
    hand_off = FastHandOff(consumer)
    consumer.wait_first = hand_off.wait_first  # type: ignore[method-assign]
    return consumer


async def test_a_callback_that_finishes_is_waited_for_and_its_result_returned() -> None:
    consumer = consumer_with_hand_off()

    async def callback() -> str:
        await asyncio.sleep(0)
        return "delivered"

    hand_off = consumer.wait_first.__self__  # type: ignore[attr-defined]
    modes_own = []
    original = hand_off.original

    async def counted(*coros: object, timeout: object = None) -> object:
        modes_own.append(coros)
        return await original(*coros, timeout=timeout)

    hand_off.original = counted
    call = callback()
    results = await consumer.wait_first(call, consumer.suspend_flow.wait())
    assert results.results == ["delivered"] and results.done == [call] and not results.stopped
    assert modes_own == [(consumer.suspend_flow,)]  # only the shared interrupt task's wait


async def test_a_callback_that_does_not_wait_is_handed_over_within_the_call() -> None:
    consumer = consumer_with_hand_off()
    hand_off = consumer.wait_first.__self__  # type: ignore[attr-defined]
    lock = asyncio.Lock()  # the conductor's: free, so taking it does not suspend
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
    others: list[str] = []
    asyncio.get_running_loop().call_soon(others.append, "ran")

    async def deliver() -> str:
        async with lock:
            await queue.put("order")
        return "delivered"

    call = deliver()
    results = await consumer.wait_first(call, consumer.suspend_flow.wait())
    assert results.results == ["delivered"] and results.done == [call]
    assert queue.get_nowait() == "order"
    assert others == []  # no trip round the loop: nothing else ran meanwhile
    assert hand_off.interrupt is None  # and no task was made


async def test_a_callback_suspended_on_a_full_queue_goes_on_when_it_drains() -> None:
    consumer = consumer_with_hand_off()
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
    queue.put_nowait("tick")

    async def deliver() -> str:
        await queue.put("order")
        return "delivered"

    waiting = asyncio.ensure_future(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert queue.get_nowait() == "tick"
    assert (await asyncio.wait_for(waiting, 5)).results == ["delivered"]
    assert queue.get_nowait() == "order"


async def test_a_blocked_callback_is_abandoned_when_the_flow_is_suspended() -> None:
    consumer = consumer_with_hand_off()
    cancelled = asyncio.Event()

    async def blocked() -> None:
        try:
            await asyncio.Future()  # a full queue that never drains
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.ensure_future(consumer.wait_first(blocked(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    consumer.suspend_flow.set()  # a rebalance
    results = await asyncio.wait_for(waiting, 5)
    assert not results.stopped and results.results == [None]
    await asyncio.wait_for(cancelled.wait(), 5)

    # While the flow stays suspended, mode's own wait_first decides (and returns at once).
    again = await asyncio.wait_for(
        consumer.wait_first(asyncio.sleep(3600), consumer.suspend_flow.wait()), 5
    )
    assert not again.stopped


async def test_a_callback_error_reaches_the_drain_loop() -> None:
    consumer = consumer_with_hand_off()

    async def broken() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(broken(), consumer.suspend_flow.wait())


async def test_a_stopping_consumer_ends_the_wait_as_stopped() -> None:
    consumer = consumer_with_hand_off()

    async def forever() -> None:
        await asyncio.Future()

    waiting = asyncio.ensure_future(consumer.wait_first(forever(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer._stopped.set()
    assert (await asyncio.wait_for(waiting, 5)).stopped


async def test_other_waits_go_to_modes_own() -> None:
    consumer = consumer_with_hand_off()
    other = asyncio.Event()
    other.set()
    results = await asyncio.wait_for(consumer.wait_first(other), 5)
    assert results.done == [other]


def test_installing_twice_wraps_once() -> None:
    consumer = Consumer()

    class App:
        pass

    app = App()
    app.consumer = consumer  # type: ignore[attr-defined]
    install_fast_hand_off(app)  # type: ignore[arg-type]
    first = consumer.wait_first
    install_fast_hand_off(app)  # type: ignore[arg-type]
    assert consumer.wait_first == first


async def test_a_cancelled_interrupt_task_is_replaced_and_the_callback_still_awaited() -> None:
    consumer = consumer_with_hand_off()
    hand_off = consumer.wait_first.__self__  # type: ignore[attr-defined]
    release: asyncio.Future[str] = asyncio.Future()

    async def slow() -> str:
        return await release

    waiting = asyncio.ensure_future(consumer.wait_first(slow(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    first = hand_off.interrupt
    first.cancel()  # e.g. cancelled from outside, with no event set
    await asyncio.sleep(0.01)
    assert not waiting.done() and hand_off.interrupt is not first
    release.set_result("late")
    assert (await asyncio.wait_for(waiting, 5)).results == ["late"]
