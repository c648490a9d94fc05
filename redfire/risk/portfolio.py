"""Assemble exposures and an aligned return matrix from positions, prices and windows.

Return windows may differ in length (a symbol listed last month has fewer bars).
The matrix is aligned on the common tail: the last T bars of every window, T the
shortest window held, capped at the configured window. A symbol whose window is
shorter than `min_window` is handled explicitly, never by a silent zero column:
its configured proxy's returns stand in (a proxy symbol's window, e.g. its
sector ETF or index), and without one the answer is an `InsufficientHistory`
value listing every such symbol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from redfire.risk.measures import FloatArray, InsufficientHistory

DEFAULT_WINDOW = 250
DEFAULT_MIN_WINDOW = 20


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """Say how much history VaR needs and what stands in for a symbol without it.

    `window` caps the rows used (REDFIRE_VAR_WINDOW); `min_window` is the
    shortest acceptable window; `proxies` maps a symbol to the symbol whose
    returns stand in for it; `default_proxy`, when set, serves every other short
    symbol (e.g. a broad index).
    """

    window: int = DEFAULT_WINDOW
    min_window: int = DEFAULT_MIN_WINDOW
    proxies: Mapping[str, str] = field(default_factory=dict)
    default_proxy: str | None = None

    def __post_init__(self) -> None:
        if self.min_window < 2 or self.window < self.min_window:
            raise ValueError("need 2 <= min_window <= window")


@dataclass(frozen=True, slots=True, eq=False)
class Portfolio:
    """Hold what every VaR engine needs: symbols, market values and aligned returns.

    `returns` is T × n, most recent last, columns in `symbols` order. `proxied`
    maps each symbol priced off another symbol's returns to that symbol.
    """

    symbols: tuple[str, ...]
    exposures: FloatArray
    returns: FloatArray
    proxied: Mapping[str, str] = field(default_factory=dict)

    @property
    def window(self) -> int:
        """Return T, the number of aligned return rows."""
        return int(self.returns.shape[0])

    def exposure_map(self) -> dict[str, float]:
        """Return the market value per symbol."""
        return {s: float(v) for s, v in zip(self.symbols, self.exposures, strict=True)}


def exposures_from_positions(
    positions: Mapping[str, float], prices: Mapping[str, float]
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Return ({symbol: qty × price} for non-zero positions, symbols with no price)."""
    exposures: dict[str, float] = {}
    unpriced: list[str] = []
    for symbol, qty in sorted(positions.items()):
        if qty == 0:
            continue
        price = prices.get(symbol)
        if price is None or not np.isfinite(price):
            unpriced.append(symbol)
            continue
        exposures[symbol] = float(qty) * float(price)
    return exposures, tuple(unpriced)


def usable_window(window: FloatArray | None, policy: HistoryPolicy) -> FloatArray | None:
    """Return the window's finite tail if it has at least `min_window` bars, else None.

    Only the run of finite values at the end counts: a NaN bar breaks the window.
    """
    if window is None:
        return None
    values = np.asarray(window, dtype=np.float64)[-policy.window :]
    # A finite sum means every value is finite: one reduction settles the usual case (a
    # sum that overflows only takes the longer way).
    if not math.isfinite(np.add.reduce(values)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            values = values[bad[-1] + 1 :]
    return values if values.size >= policy.min_window else None


def resolve_window(
    symbol: str, windows: Mapping[str, FloatArray], policy: HistoryPolicy
) -> tuple[FloatArray | None, str | None]:
    """Return (window to use, proxy symbol or None) for one symbol.

    The order agent calls this too, so a new symbol in a pre-trade check gets
    exactly the window (or proxy) the assembly would give it.
    """
    own = usable_window(windows.get(symbol), policy)
    if own is not None:
        return own, None
    proxy = policy.proxies.get(symbol, policy.default_proxy)
    if proxy is None or proxy == symbol:
        return None, None
    stand_in = usable_window(windows.get(proxy), policy)
    return (stand_in, proxy) if stand_in is not None else (None, None)


def assemble_portfolio(
    exposures: Mapping[str, float],
    windows: Mapping[str, FloatArray],
    policy: HistoryPolicy | None = None,
) -> Portfolio | InsufficientHistory:
    """Return the aligned portfolio of market values, or the symbols lacking history.

    An empty book gives a portfolio with no symbols and `policy.window` rows, so a
    first order can still be priced against it.
    """
    rules = policy or HistoryPolicy()
    symbols = tuple(sorted(s for s, v in exposures.items() if v != 0.0))
    chosen: dict[str, FloatArray] = {}
    proxied: dict[str, str] = {}
    short: list[str] = []
    for symbol in symbols:
        window, proxy = resolve_window(symbol, windows, rules)
        if window is None:
            short.append(symbol)
            continue
        chosen[symbol] = window
        if proxy is not None:
            proxied[symbol] = proxy
    if short:
        available = {s: int(np.asarray(windows.get(s, ())).size) for s in short}
        return InsufficientHistory(tuple(short), rules.min_window, available)
    rows = min((w.size for w in chosen.values()), default=rules.window)
    matrix = np.empty((rows, len(symbols)))
    for i, symbol in enumerate(symbols):
        matrix[:, i] = chosen[symbol][-rows:]
    values = np.array([exposures[s] for s in symbols], dtype=np.float64)
    return Portfolio(symbols, values, matrix, proxied)


def assemble_from_positions(
    positions: Mapping[str, float],
    prices: Mapping[str, float],
    windows: Mapping[str, FloatArray],
    policy: HistoryPolicy | None = None,
) -> Portfolio | InsufficientHistory:
    """Return the aligned portfolio of positions (symbol → qty) valued at prices.

    A position without a price is reported in `InsufficientHistory.unpriced`
    together with any symbol short of history.
    """
    rules = policy or HistoryPolicy()
    exposures, unpriced = exposures_from_positions(positions, prices)
    assembled = assemble_portfolio(exposures, windows, rules)
    if not unpriced:
        return assembled
    if isinstance(assembled, InsufficientHistory):
        return InsufficientHistory(
            assembled.symbols, assembled.required, assembled.available, unpriced
        )
    return InsufficientHistory((), rules.min_window, {}, unpriced)
