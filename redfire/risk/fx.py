"""Currencies: FX rates from pair ticks or the instrument master, and conversion between them.

A pair ``USDCNY`` quotes how many CNY one USD buys. ``FxRates`` keeps the latest rate of every
pair it has seen and converts any currency into another:

* **direct**: USD → CNY uses ``USDCNY``;
* **inverse**: CNY → USD uses ``1 / USDCNY`` when only that pair is quoted;
* **cross**: HKD → USD uses ``HKDCNY × 1/USDCNY`` through a common currency (the pivots, USD
  first), each leg direct or inverse.

A ticked rate always wins over a reference rate from the instrument master (an FX pair's
``previous_close``), which serves only until the first tick. A conversion that cannot be made
is a ``MissingRate`` value naming what was tried: the checks turn it into a rejection reason and
valuation leaves the holding out and reports it. RedFire never converts at a silent 1.0; the
identity conversion (a currency into itself) is the only rate of 1.

FX returns for VaR: a pair's returns come from its bars like any symbol's. The return of a
conversion is exact: an inverse leg returns ``1/(1+r) − 1``, a cross ``(1+r₁)(1+r₂) − 1``
(``conversion_returns``). ``risk.fx_portfolio`` composes them with the assets' returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from redfire.risk.measures import FloatArray

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")

# ISO 4217 codes recognised in a bare pair symbol (``USDCNY``) of an unknown instrument; the
# master may use any 3-letter code. CNH is the offshore renminbi.
_ISO_CODES = (
    "USD EUR JPY GBP CHF CAD AUD NZD CNY CNH HKD MOP TWD SGD KRW INR IDR MYR THB PHP VND "
    "SEK NOK DKK PLN CZK HUF TRY ZAR MXN BRL CLP COP PEN ILS AED SAR QAR KWD"
)
ISO_CURRENCIES = frozenset(_ISO_CODES.split(" "))
DEFAULT_PIVOTS: tuple[str, ...] = ("USD",)


def split_pair(symbol: str) -> tuple[str, str] | None:
    """Return (base, quote) of a bare pair of ISO currencies (``USDCNY``), else None."""
    if len(symbol) != 6:
        return None
    base, quote = symbol[:3], symbol[3:]
    if base in ISO_CURRENCIES and quote in ISO_CURRENCIES and base != quote:
        return base, quote
    return None


def check_currency(code: str) -> str:
    """Return ``code`` if it is a 3-letter upper-case currency code; raise ValueError if not."""
    if not isinstance(code, str) or not CURRENCY_PATTERN.fullmatch(code):
        raise ValueError(f"{code!r} is not a 3-letter upper-case currency code (CNY, HKD, USD)")
    return code


@dataclass(frozen=True, slots=True)
class FxQuote:
    """One pair's rate: one ``base`` buys ``rate`` of ``quote``; ``ts`` None for a master rate."""

    symbol: str
    base: str
    quote: str
    rate: float
    ts: int | None


@dataclass(frozen=True, slots=True)
class Leg:
    """One step of a conversion: a pair's rate, used as quoted or inverted."""

    quote: FxQuote
    inverted: bool

    @property
    def rate(self) -> float:
        """Return the leg's rate in the direction of the conversion."""
        return 1.0 / self.quote.rate if self.inverted else self.quote.rate

    def describe(self) -> str:
        """Return ``USDCNY 7.1`` or ``1/USDCNY``-style text."""
        prefix = "1/" if self.inverted else ""
        return f"{prefix}{self.quote.symbol} {self.quote.rate:g}"


@dataclass(frozen=True, slots=True)
class Conversion:
    """How one unit of ``source`` becomes ``rate`` units of ``target``; no legs is identity."""

    source: str
    target: str
    rate: float
    legs: tuple[Leg, ...] = ()

    @property
    def is_identity(self) -> bool:
        """Tell whether no rate is involved (source and target are the same currency)."""
        return not self.legs

    @property
    def ts(self) -> int | None:
        """Return the time of the oldest leg, or None when a leg is a master (untimed) rate."""
        times = [leg.quote.ts for leg in self.legs]
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)

    @property
    def has_reference_leg(self) -> bool:
        """Tell whether a leg is the master's reference rate rather than a tick."""
        return any(leg.quote.ts is None for leg in self.legs)

    def describe(self) -> str:
        """Return the legs as text, e.g. ``HKDCNY 0.92 × 1/USDCNY 7.1``."""
        if not self.legs:
            return f"{self.source} = {self.target}"
        return " × ".join(leg.describe() for leg in self.legs)

    def symbols(self) -> tuple[str, ...]:
        """Return the pair symbols whose rates (and returns) the conversion uses."""
        return tuple(leg.quote.symbol for leg in self.legs)


@dataclass(frozen=True, slots=True)
class MissingRate:
    """A conversion that cannot be made: no direct, inverse or cross rate is known."""

    source: str
    target: str
    tried: tuple[str, ...]

    def message(self) -> str:
        """Return the rejection text: what is missing and what was tried."""
        return (
            f"no {self.source}→{self.target} FX rate: no tick or master rate for "
            f"{', '.join(self.tried)}"
        )


def identity(currency: str) -> Conversion:
    """Return the conversion of a currency into itself."""
    return Conversion(currency, currency, 1.0)


class FxRates:
    """The latest rate of every pair seen; converts direct, inverse or cross via a pivot.

    ``pivots`` lists the currencies a cross may go through, in order of preference; None
    (the default) allows any currency, USD first and then alphabetically. Conversions are
    cached until the next rate change, so a conversion per order is one dict lookup.
    """

    def __init__(self, pivots: Sequence[str] | None = None) -> None:
        self._pivots = None if pivots is None else tuple(check_currency(p) for p in pivots)
        self._ticked: dict[tuple[str, str], FxQuote] = {}
        self._reference: dict[tuple[str, str], FxQuote] = {}
        self._neighbours: dict[str, set[str]] = {}
        self._cache: dict[tuple[str, str], Conversion | MissingRate] = {}

    def on_tick(self, symbol: str, base: str, quote: str, rate: float, ts: int) -> bool:
        """Take a pair tick; tell whether it changed the rate (an older tick never does)."""
        _check_rate(symbol, rate)
        key = (base, quote)
        held = self._ticked.get(key)
        if held is not None and held.ts is not None and ts < held.ts:
            return False
        self._store(self._ticked, FxQuote(symbol, base, quote, rate, ts))
        return True

    def set_reference(self, symbol: str, base: str, quote: str, rate: float) -> None:
        """Set the master's rate of a pair (used until the pair's first tick)."""
        _check_rate(symbol, rate)
        self._store(self._reference, FxQuote(symbol, base, quote, rate, None))

    def quote(self, base: str, quote: str) -> FxQuote | None:
        """Return the rate of the pair base/quote as quoted: the tick, else the master's."""
        key = (base, quote)
        return self._ticked.get(key) or self._reference.get(key)

    def convert(self, source: str, target: str) -> Conversion | MissingRate:
        """Return how ``source`` converts into ``target``, or what is missing."""
        if source == target:
            return identity(source)
        key = (source, target)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._search(source, target)
            self._cache[key] = cached
        return cached

    def rate(self, source: str, target: str) -> float | None:
        """Return the rate source → target, or None when it cannot be made."""
        conversion = self.convert(source, target)
        return conversion.rate if isinstance(conversion, Conversion) else None

    def _store(self, quotes: dict[tuple[str, str], FxQuote], quote: FxQuote) -> None:
        quotes[(quote.base, quote.quote)] = quote
        self._neighbours.setdefault(quote.base, set()).add(quote.quote)
        self._neighbours.setdefault(quote.quote, set()).add(quote.base)
        self._cache.clear()

    def _leg(self, source: str, target: str) -> Leg | None:
        direct = self.quote(source, target)
        if direct is not None:
            return Leg(direct, inverted=False)
        inverse = self.quote(target, source)
        return None if inverse is None else Leg(inverse, inverted=True)

    def _search(self, source: str, target: str) -> Conversion | MissingRate:
        leg = self._leg(source, target)
        if leg is not None:
            return Conversion(source, target, leg.rate, (leg,))
        for pivot in self._pivot_order(source, target):
            first, second = self._leg(source, pivot), self._leg(pivot, target)
            if first is not None and second is not None:
                return Conversion(source, target, first.rate * second.rate, (first, second))
        tried = [f"{source}{target}", f"{target}{source}"]
        tried += [f"{source}/{p}/{target}" for p in self._pivot_order(source, target, all_=True)]
        return MissingRate(source, target, tuple(tried))

    def _pivot_order(self, source: str, target: str, all_: bool = False) -> list[str]:
        if self._pivots is not None:
            return [p for p in self._pivots if p not in (source, target)]
        linked = self._neighbours.get(source, set()) & self._neighbours.get(target, set())
        if all_:
            linked = self._neighbours.get(source, set()) | self._neighbours.get(target, set())
        linked = linked - {source, target}
        return sorted(linked, key=lambda c: (c not in DEFAULT_PIVOTS, c))


def _check_rate(symbol: str, rate: float) -> None:
    if not (isinstance(rate, int | float) and np.isfinite(rate) and rate > 0):
        raise ValueError(f"FX rate of {symbol} must be a finite number > 0, got {rate!r}")


# --- returns of conversions (VaR) ---------------------------------------------------------


def inverse_returns(returns: FloatArray) -> FloatArray:
    """Return the returns of 1/rate given the returns of rate: 1/(1+r) − 1, exactly."""
    values = np.asarray(returns, dtype=np.float64)
    result: FloatArray = 1.0 / (1.0 + values) - 1.0
    return result


def compose_returns(*windows: FloatArray) -> FloatArray:
    """Return the returns of a product of factors: ∏(1+rⱼ) − 1 over the common tail.

    Windows are aligned on their last rows (the newest bar last), as ``portfolio`` aligns
    every symbol's window; the result has the shortest window's length.
    """
    if not windows:
        raise ValueError("compose_returns needs at least one window")
    rows = min(int(np.asarray(w).size) for w in windows)
    growth = np.ones(rows)
    for window in windows:
        tail = np.asarray(window, dtype=np.float64)[len(window) - rows :]
        growth *= 1.0 + tail
    result: FloatArray = growth - 1.0
    return result


def conversion_returns(
    conversion: Conversion, windows: Mapping[str, FloatArray]
) -> FloatArray | tuple[str, ...] | None:
    """Return the return window of a conversion's rate.

    None for the identity (no FX factor); the pair symbols without a window as a tuple when
    one is missing; else ∏ over the legs of (1 + leg return) − 1, an inverted leg's return
    being 1/(1+r) − 1.
    """
    if conversion.is_identity:
        return None
    missing = tuple(leg.quote.symbol for leg in conversion.legs if leg.quote.symbol not in windows)
    if missing:
        return missing
    legs = []
    for leg in conversion.legs:
        window = np.asarray(windows[leg.quote.symbol], dtype=np.float64)
        legs.append(inverse_returns(window) if leg.inverted else window)
    return compose_returns(*legs)
