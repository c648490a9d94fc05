"""Per-symbol market state: last prices, the open bar, return windows.

Prices and windows of every symbol are mirrored from the global ``prices`` and
``returns`` tables (any worker may price any position); the open bar of a
symbol lives only on the worker that owns the symbol's ``ticks`` partition.

A mirror never goes back in time: a worker also reads its own writes back from
a global table's changelog, late, so a value older than the one held (by tick
time, or by bar start and window length) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redfire.risk.bars import Bar, ReturnWindow, TickStatus, on_tick, window_array
from redfire.risk.measures import FloatArray
from redfire.schemas.records import Tick


@dataclass(frozen=True, slots=True)
class PriceMark:
    price: float
    ts: int
    bid: float | None = None
    ask: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"price": self.price, "bid": self.bid, "ask": self.ask, "ts": self.ts}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PriceMark:
        return cls(float(raw["price"]), int(raw["ts"]), raw.get("bid"), raw.get("ask"))


@dataclass(frozen=True, slots=True)
class WindowMark:
    """A return window decoded once: the window and its returns as an array."""

    window: ReturnWindow
    returns: FloatArray

    @classmethod
    def of(cls, window: ReturnWindow) -> WindowMark:
        array = window_array(window)
        array.setflags(write=False)
        return cls(window, array)

    @property
    def last_close(self) -> float | None:
        return self.window.last_close

    @property
    def last_bar_start(self) -> int:
        return -1 if self.window.last_bar_start is None else self.window.last_bar_start

    @property
    def order(self) -> tuple[int, int]:
        return (self.last_bar_start, len(self.window.returns))


@dataclass(slots=True)
class TickEffect:
    """What one tick changed, for the caller to stage and count."""

    status: TickStatus
    price_changed: bool
    bar_changed: bool
    window_changed: bool


class MarketState:
    """Prices, windows and (for owned symbols) open bars, all in memory."""

    def __init__(self, window_capacity: int, bar_interval_ms: int) -> None:
        self.window_capacity = window_capacity
        self.bar_interval_ms = bar_interval_ms
        self.prices: dict[str, PriceMark] = {}
        self.windows: dict[str, WindowMark] = {}
        # symbol → a number that changes whenever its window changes (VaR books
        # compare it to know they are stale); ``generation`` counts all changes.
        self.window_versions: dict[str, int] = {}
        self.generation = 0
        self.bars: dict[str, Bar | None] = {}

    # ----------------------------------------------------------------- reads

    def price(self, symbol: str) -> PriceMark | None:
        return self.prices.get(symbol)

    def last_price(self, symbol: str) -> float | None:
        mark = self.prices.get(symbol)
        return None if mark is None else mark.price

    def window(self, symbol: str) -> WindowMark | None:
        return self.windows.get(symbol)

    def window_version(self, symbol: str) -> int:
        return self.window_versions.get(symbol, 0)

    def returns(self, symbol: str) -> FloatArray | None:
        mark = self.windows.get(symbol)
        return None if mark is None else mark.returns

    # ---------------------------------------------------------------- ticks

    def apply_tick(self, tick: Tick, bar: Bar | None) -> TickEffect:
        """Fold one tick of an owned symbol into its price, bar and window."""
        symbol = tick.symbol
        last = self.prices.get(symbol)
        price_changed = last is None or tick.ts >= last.ts
        if price_changed:
            self.prices[symbol] = PriceMark(tick.price, tick.ts, tick.bid, tick.ask)
        mark = self.windows.get(symbol)
        window = mark.window if mark is not None else ReturnWindow.empty(self.window_capacity)
        outcome = on_tick(
            bar, window, tick.ts, tick.price, tick.volume or 0.0, interval_ms=self.bar_interval_ms
        )
        bar_changed = outcome.bar_changed and outcome.bar is not None
        if bar_changed:
            self.bars[symbol] = outcome.bar
        if outcome.window_changed:
            self._set_window(symbol, WindowMark.of(outcome.window))
        return TickEffect(outcome.status, price_changed, bar_changed, outcome.window_changed)

    # --------------------------------------------------- global-table mirrors

    def mirror_price(self, symbol: str, raw: dict[str, Any] | None) -> None:
        """Apply a ``prices`` changelog value written by any worker (never backwards)."""
        if raw is None:
            self.prices.pop(symbol, None)
            return
        mark = PriceMark.from_dict(raw)
        current = self.prices.get(symbol)
        if current is None or mark.ts >= current.ts:
            self.prices[symbol] = mark

    def mirror_window(self, symbol: str, raw: dict[str, Any] | None) -> None:
        """Apply a ``returns`` changelog value written by any worker (never backwards)."""
        if raw is None:
            if self.windows.pop(symbol, None) is not None:
                self._bump(symbol)
            return
        mark = WindowMark.of(ReturnWindow.from_dict(raw))
        current = self.windows.get(symbol)
        if current is None or mark.order > current.order:
            self._set_window(symbol, mark)

    def _set_window(self, symbol: str, mark: WindowMark) -> None:
        self.windows[symbol] = mark
        self._bump(symbol)

    def _bump(self, symbol: str) -> None:
        self.generation += 1
        self.window_versions[symbol] = self.generation
