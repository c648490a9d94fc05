"""Per-symbol market state: last prices, the open bar, return windows, reference data, FX.

Prices and windows of every symbol are mirrored from the global ``prices`` and
``returns`` tables (any worker may price any position); the open bar of a
symbol lives only on the worker that owns the symbol's ``ticks`` partition.

A mirror never goes back in time: a worker also reads its own writes back from
a global table's changelog, late, so a value older than the one held (by tick
time, or by bar start and window length) is ignored.

Reference data: the instrument master (``InstrumentBook``) starts from
REDFIRE_INSTRUMENTS_FILE and follows the global ``instruments`` table, which the
instruments agent fills from the ``instruments`` topic (a topic entry wins over the
file's; a tombstone removes the symbol, which then falls back to the suffix rules).
FX rates (``FxRates``) are the prices of the symbols the master (or the suffix rules)
call currency pairs, taken whenever such a price changes here (a tick on the owning
worker, the ``prices`` mirror on every worker), and the master's reference rates of
pairs until their first price. A pair's return window is its ordinary ``returns``
window. Trading days (T+1) follow each market's session clock (REDFIRE_MARKET_SESSIONS).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redfire.risk.bars import Bar, ReturnWindow, TickStatus, on_tick, resize_window, window_array
from redfire.risk.fx import Conversion, FxRates, MissingRate, identity
from redfire.risk.instruments import (
    Instrument,
    InstrumentBook,
    InstrumentError,
    Resolution,
    instrument_fields,
    instrument_from_fields,
)
from redfire.risk.measures import FloatArray
from redfire.risk.settlement import SessionClock, session_clocks
from redfire.schemas.records import Tick
from redfire.state.config import REMOVED, VersionedEntries

log = logging.getLogger(__name__)
_UNSEEN = ("", "")


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

    def __init__(
        self,
        window_capacity: int,
        bar_interval_ms: int,
        instruments: Iterable[Instrument] = (),
        sessions: Mapping[str, str] | None = None,
    ) -> None:
        self.window_capacity = window_capacity
        self.bar_interval_ms = bar_interval_ms
        self.prices: dict[str, PriceMark] = {}
        self.windows: dict[str, WindowMark] = {}
        # symbol → a number that changes whenever its window changes (VaR books
        # compare it to know they are stale); ``generation`` counts all changes.
        self.window_versions: dict[str, int] = {}
        self.generation = 0
        self.bars: dict[str, Bar | None] = {}
        self.instruments = InstrumentBook(instruments)
        # The live entries of the ``instruments`` table (versioned like the limits').
        self.instrument_entries = VersionedEntries()
        # Counts changes of the master: books valued with older reference data rebuild.
        self.reference_generation = 0
        self.sessions: dict[str, SessionClock] = session_clocks(sessions)
        self.fx = FxRates()
        # Counts pairs gaining their first rate: books that lacked a rate rebuild.
        self.fx_generation = 0
        # symbol → (base, quote) if its prices are FX rates, None if not (filled lazily).
        self._fx_pairs: dict[str, tuple[str, str] | None] = {}
        self._notes: dict[str, tuple[str, ...]] = {}
        self._identities: dict[str, Conversion] = {}
        self._reset_fx()

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

    # ------------------------------------------------------- reference data

    def resolve(self, symbol: str) -> Resolution:
        """Return the symbol's instrument: the master's, else the suffix rules' fallback."""
        return self.instruments.resolve(symbol)

    def currency_of(self, symbol: str) -> str:
        return self.instruments.resolve(symbol).instrument.currency

    def notes_of(self, symbol: str) -> tuple[str, ...]:
        """Return what a decision says about ``symbol``: that it fell back to the suffix rules."""
        notes = self._notes.get(symbol)
        if notes is None:
            note = self.instruments.resolve(symbol).note()
            notes = self._notes[symbol] = () if note is None else (note,)
        return notes

    def convert(self, currency: str, base: str) -> Conversion | MissingRate:
        """Return how ``currency`` converts into ``base`` at the rates of the moment."""
        if currency == base:
            same = self._identities.get(currency)
            if same is None:
                same = self._identities[currency] = identity(currency)
            return same
        return self.fx.convert(currency, base)

    def rate(self, currency: str, base: str) -> float | None:
        """Return the rate ``currency`` → ``base`` now, or None when it cannot be made."""
        if currency == base:
            return 1.0
        conversion = self.fx.convert(currency, base)
        return conversion.rate if type(conversion) is Conversion else None

    def trading_day(self, instrument: Instrument, ts: int) -> int:
        """Return the trading day of ``ts`` on the instrument's market (its session clock)."""
        return self.sessions[instrument.market].trading_day(ts)

    def apply_instrument(self, symbol: str, value: dict[str, Any] | None) -> None:
        """Apply an ``instruments`` table entry written by any worker (never an older one)."""
        if not self.instrument_entries.apply(symbol, value):
            return
        entry = self.instrument_entries.get(symbol)
        if entry is None or entry.get(REMOVED):
            self._replace_instrument(symbol, None)
            return
        fields = {k: v for k, v in entry.items() if not k.startswith("_")}
        try:
            instrument = instrument_from_fields(symbol, fields)
        except InstrumentError:  # entries are checked before they are written
            log.exception("unusable instruments entry for %s ignored", symbol)
            return
        self._replace_instrument(symbol, instrument)

    def instrument_entry(self, instrument: Instrument | None, symbol: str) -> dict[str, Any]:
        """Return the ``instruments`` table value that stores ``instrument`` (None: removes)."""
        version = self.instrument_entries.next_version(symbol)
        if instrument is None:
            return {REMOVED: True, "_version": version}
        return {**instrument_fields(instrument), "_version": version}

    def _replace_instrument(self, symbol: str, instrument: Instrument | None) -> None:
        before = self.instruments.get(symbol)
        was_pair = self.instruments.fx_pair(symbol) is not None
        if instrument is None:
            self.instruments.remove(symbol)
        else:
            self.instruments.put(instrument)
        if before == instrument:
            return
        self.reference_generation += 1
        self._notes.pop(symbol, None)
        self._fx_pairs.pop(symbol, None)
        is_pair = self.instruments.fx_pair(symbol) is not None
        if was_pair or is_pair:
            self._reset_fx()

    def _reset_fx(self) -> None:
        """Rebuild the rates: the master's reference rates, then every pair's last price."""
        self.fx = FxRates()
        self.fx_generation += 1
        for symbol, base, quote, rate in self.instruments.reference_rates():
            self.fx.set_reference(symbol, base, quote, rate)
        for symbol, mark in self.prices.items():
            self._on_price(symbol, mark)

    def _on_price(self, symbol: str, mark: PriceMark) -> None:
        """Take a new price of ``symbol`` as an FX rate when the symbol is a currency pair."""
        pair = self._fx_pairs.get(symbol, _UNSEEN)
        if pair is _UNSEEN:
            pair = self._fx_pairs[symbol] = self.instruments.fx_pair(symbol)
        if pair is not None:
            base, quote = pair
            if self.fx.quote(base, quote) is None:
                self.fx_generation += 1
            self.fx.on_tick(symbol, base, quote, mark.price, mark.ts)

    # ---------------------------------------------------------------- ticks

    def apply_tick(self, tick: Tick, bar: Bar | None) -> TickEffect:
        """Fold one tick of an owned symbol into its price, bar and window."""
        symbol = tick.symbol
        last = self.prices.get(symbol)
        price_changed = last is None or tick.ts >= last.ts
        if price_changed:
            price = self.prices[symbol] = PriceMark(tick.price, tick.ts, tick.bid, tick.ask)
            self._on_price(symbol, price)
        mark = self.windows.get(symbol)
        window = mark.window if mark is not None else ReturnWindow.empty(self.window_capacity)
        if window.capacity != self.window_capacity:
            # REDFIRE_VAR_WINDOW (or the method) changed since the window was stored.
            window = resize_window(window, self.window_capacity)
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
            self._on_price(symbol, mark)

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
