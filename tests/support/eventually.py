"""Poll a condition until it holds, instead of sleeping a guessed amount.

    row = eventually(lambda: table.get("ACC1"), timeout=10)   # returns the truthy value
    eventually(lambda: assert_positions(client), timeout=10)  # retries AssertionError
    await eventually_async(fetch_snapshot, timeout=10)        # sync or async predicate

A predicate *holds* when it returns a truthy value without raising. While it
returns something falsy, or raises one of ``retry_on`` (``AssertionError`` by
default), it is called again every ``interval`` seconds until ``timeout``; then
``AssertionError`` is raised with the message, the last value and the last
error (chained). Any other exception propagates at once: a bug is not a
condition that might still come true.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

_NOTHING = object()


class _AttemptTimedOut(Exception):
    """An awaitable attempt did not finish before the overall deadline."""


def _describe(predicate: Callable[..., object]) -> str:
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    return "condition" if name == "<lambda>" else f"condition {name}"


def _timeout_error(
    predicate: Callable[..., object],
    message: str | None,
    timeout: float,
    attempts: int,
    last_value: object,
    last_error: BaseException | None,
) -> AssertionError:
    what = message or _describe(predicate)
    detail = f"{what}: not true after {timeout:g}s ({attempts} attempts)"
    if last_error is not None:
        detail += f"; last error: {type(last_error).__name__}: {last_error}"
    elif last_value is not _NOTHING:
        detail += f"; last value: {last_value!r}"
    return AssertionError(detail)


def eventually(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    *,
    message: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """Call ``predicate`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    attempts = 0
    last_value: object = _NOTHING
    last_error: BaseException | None = None
    while True:
        attempts += 1
        try:
            value = predicate()
        except retry_on as exc:
            last_error, last_value = exc, _NOTHING
        else:
            if value:
                return value
            last_error, last_value = None, value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout_error(
                predicate, message, timeout, attempts, last_value, last_error
            ) from last_error
        time.sleep(min(interval, remaining))


async def eventually_async(
    predicate: Callable[[], Awaitable[T] | T],
    timeout: float = 30.0,
    interval: float = 0.05,
    *,
    message: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """Async ``eventually``: ``predicate`` may be sync or return an awaitable.

    Sleeps with ``asyncio.sleep`` so the event loop (a faust app, an aiokafka
    consumer) keeps running between attempts. An attempt that hangs is bounded
    by the remaining time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempts = 0
    last_value: object = _NOTHING
    last_error: BaseException | None = None
    retryable: tuple[type[BaseException], ...] = (_AttemptTimedOut, *retry_on)
    while True:
        attempts += 1
        try:
            result = predicate()
            if inspect.isawaitable(result):
                remaining = max(deadline - loop.time(), 0.001)
                try:
                    result = await asyncio.wait_for(result, remaining)
                except TimeoutError as exc:  # this attempt hung past the deadline
                    raise _AttemptTimedOut(f"attempt still pending at {timeout:g}s") from exc
        except retryable as exc:
            last_error, last_value = exc, _NOTHING
        else:
            if result:
                return cast(T, result)
            last_error, last_value = None, result
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _timeout_error(
                predicate, message, timeout, attempts, last_value, last_error
            ) from last_error
        await asyncio.sleep(min(interval, remaining))
