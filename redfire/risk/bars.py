"""Bars built from ticks, and the window of bar returns VaR reads.

Buckets come from the tick's own timestamp (epoch ms, aligned to UTC epoch
multiples of the interval), never from a clock, so a replay builds the same
bars. A tick in a later bucket closes the current bar and appends one simple
return, close / previous close − 1, to a bounded window. When buckets are
skipped the single return spans the gap: prices for missing bars are never
invented.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

_UNIT_MS: Mapping[str, int] = MappingProxyType(
    {
        "ms": 1,
        "s": 1_000,
        "m": 60_000,
        "h": 3_600_000,
        "d": 86_400_000,
    }
)
_INTERVAL = re.compile(r"(\d+)(ms|s|m|h|d)")


class TickStatus(StrEnum):
    """Say what a tick did; DUPLICATE and LATE ticks change nothing."""

    APPLIED = "APPLIED"
    NEW_BAR = "NEW_BAR"
    DUPLICATE = "DUPLICATE"
    LATE = "LATE"
    OUT_OF_ORDER_IN_BAR = "OUT_OF_ORDER_IN_BAR"


def parse_interval(text: str) -> int:
    """Parse a bar interval such as '1d', '1h', '5m', '30s' or '250ms' into milliseconds."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"bad bar interval {text!r}: write a positive whole number and a unit "
            "(ms, s, m, h, d), e.g. '1m', '250ms' or '1d'"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def bar_start(ts: int, interval_ms: int) -> int:
    """Return the start of the UTC-epoch-aligned bucket that holds `ts`."""
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    return ts - ts % interval_ms


@dataclass(frozen=True, slots=True)
class Bar:
    """Hold one OHLCV bar; `close` is the price at `last_ts`, the latest tick time seen."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    last_ts: int

    def to_dict(self) -> dict[str, int | float]:
        """Return JSON-friendly fields."""
        return {
            "start": self.start,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bar:
        """Build a bar from `to_dict` output."""
        return cls(
            start=int(data["start"]),
            open=float(data["open"]),
            high=float(data["high"]),
            low=float(data["low"]),
            close=float(data["close"]),
            volume=float(data["volume"]),
            last_ts=int(data["last_ts"]),
        )


@dataclass(frozen=True, slots=True)
class ReturnWindow:
    """Hold the last `capacity` bar returns (oldest first) and the last closed bar."""

    capacity: int
    returns: tuple[float, ...]
    last_close: float | None
    last_bar_start: int | None

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"window capacity must be at least 1, got {self.capacity}")
        if len(self.returns) > self.capacity:
            raise ValueError(f"{len(self.returns)} returns exceed capacity {self.capacity}")

    @classmethod
    def empty(cls, capacity: int) -> ReturnWindow:
        """Return a window with no bars seen yet."""
        return cls(capacity=capacity, returns=(), last_close=None, last_bar_start=None)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly fields."""
        return {
            "capacity": self.capacity,
            "returns": list(self.returns),
            "last_close": self.last_close,
            "last_bar_start": self.last_bar_start,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReturnWindow:
        """Build a window from `to_dict` output."""
        last_close = data.get("last_close")
        last_bar_start = data.get("last_bar_start")
        return cls(
            capacity=int(data["capacity"]),
            returns=tuple(float(r) for r in data["returns"]),
            last_close=None if last_close is None else float(last_close),
            last_bar_start=None if last_bar_start is None else int(last_bar_start),
        )


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """Report one tick: the bar and window after it, the bar it closed, and its status."""

    bar: Bar | None
    window: ReturnWindow
    closed_bar: Bar | None
    status: TickStatus

    @property
    def bar_changed(self) -> bool:
        """Return True when the bar must be written back."""
        return self.status not in (TickStatus.DUPLICATE, TickStatus.LATE)

    @property
    def window_changed(self) -> bool:
        """Return True when the window must be written back (a bar closed)."""
        return self.closed_bar is not None


def on_tick(
    bar: Bar | None,
    window: ReturnWindow,
    ts: int,
    price: float,
    volume: float,
    *,
    interval_ms: int,
) -> TickOutcome:
    """Fold one tick into the current bar, closing it when the tick opens a later bucket.

    LATE ticks (for a bucket already closed) and DUPLICATE ticks (same ts and
    price as the last one) are ignored; the caller counts them by status.
    """
    if not (math.isfinite(price) and price > 0.0):
        raise ValueError(f"tick price must be finite and positive, got {price}")
    bucket = bar_start(ts, interval_ms)
    if bar is None:
        return _first_bar_of_window(window, bucket, ts, price, volume)
    if bucket < bar.start:
        return TickOutcome(bar, window, None, TickStatus.LATE)
    if bucket > bar.start:
        new_bar = _opening_bar(bucket, ts, price, volume)
        return TickOutcome(new_bar, close_bar(window, bar), bar, TickStatus.NEW_BAR)
    return _within_bar(bar, window, ts, price, volume)


def close_bar(window: ReturnWindow, bar: Bar) -> ReturnWindow:
    """Append the return of a closed bar; the first bar ever only sets last_close."""
    returns = window.returns
    if window.last_close is not None:
        returns = (*returns, bar.close / window.last_close - 1.0)[-window.capacity :]
    return ReturnWindow(
        capacity=window.capacity,
        returns=returns,
        last_close=bar.close,
        last_bar_start=bar.start,
    )


def returns_from_closes(
    closes: Sequence[float], capacity: int, last_bar_start: int | None = None
) -> ReturnWindow:
    """Build a window from a history of closes (e.g. daily), keeping the newest returns."""
    for close in closes:
        if not (math.isfinite(close) and close > 0.0):
            raise ValueError(f"closes must be finite and positive, got {close}")
    returns = tuple(now / before - 1.0 for before, now in pairwise(closes))
    return ReturnWindow(
        capacity=capacity,
        returns=returns[-capacity:],
        last_close=float(closes[-1]) if closes else None,
        last_bar_start=last_bar_start,
    )


def resize_window(window: ReturnWindow, capacity: int) -> ReturnWindow:
    """Return the window with a new capacity, keeping the newest returns."""
    return ReturnWindow(
        capacity=capacity,
        returns=window.returns[-capacity:],
        last_close=window.last_close,
        last_bar_start=window.last_bar_start,
    )


def window_array(window: ReturnWindow) -> npt.NDArray[np.float64]:
    """Return the returns as a float64 array, oldest first."""
    return np.asarray(window.returns, dtype=np.float64)


def _first_bar_of_window(
    window: ReturnWindow, bucket: int, ts: int, price: float, volume: float
) -> TickOutcome:
    if window.last_bar_start is not None and bucket <= window.last_bar_start:
        return TickOutcome(None, window, None, TickStatus.LATE)
    return TickOutcome(_opening_bar(bucket, ts, price, volume), window, None, TickStatus.NEW_BAR)


def _opening_bar(bucket: int, ts: int, price: float, volume: float) -> Bar:
    return Bar(
        start=bucket,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=volume,
        last_ts=ts,
    )


def _within_bar(
    bar: Bar, window: ReturnWindow, ts: int, price: float, volume: float
) -> TickOutcome:
    if ts == bar.last_ts and price == bar.close:
        return TickOutcome(bar, window, None, TickStatus.DUPLICATE)
    in_order = ts >= bar.last_ts
    updated = Bar(
        start=bar.start,
        open=bar.open,
        high=max(bar.high, price),
        low=min(bar.low, price),
        close=price if in_order else bar.close,
        volume=bar.volume + volume,
        last_ts=ts if in_order else bar.last_ts,
    )
    status = TickStatus.APPLIED if in_order else TickStatus.OUT_OF_ORDER_IN_BAR
    return TickOutcome(updated, window, None, status)
