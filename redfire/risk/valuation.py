"""An account valued at market: equity, exposures, ratios, daily P&L and drawdown.

One definition for every consumer (pre-trade checks, snapshots, rules, the firm stage, HTTP
views), in floats. Sums of money use ``math.fsum``, the correctly rounded sum of the terms,
so a figure does not depend on the order positions are visited in.

Definitions
  * market value of a position: qty × last price; a held symbol without a price is worth 0
    and listed in ``unpriced``.
  * equity = cash + Σ market value; gross exposure = Σ |market value|; net = Σ market value.
  * ``leverage`` = gross / equity; 0 without exposure; ``UNBOUNDED_LEVERAGE`` when there is
    exposure and equity ≤ 0: positions with no equity behind them are beyond any leverage
    limit, so a leverage rule fires on them.
  * ``concentration`` = largest |market value| / gross exposure (0 without exposure): a share
    of the book, defined whatever the equity.
  * ``largest_position_weight`` = largest |market value| / equity, and ``var_equity_ratio``
    = VaR / equity: None ("no evidence") when equity ≤ 0, where a ratio to equity has no
    meaning (its sign would flip). ``leverage`` already speaks for that state.
  * ``daily_pnl`` = equity − equity at the day's first mark; None before the first mark.
  * ``drawdown`` = (high-water mark − equity) / high-water mark, from 0 up (above 1 when
    equity went negative); None while the account has no positive high-water mark.

High-water mark and day start (``EquityMarks``)
  Drawdown only means something against capital. An account that trades before its cash
  is set (``REDFIRE_DEFAULT_CASH`` is 0 until ``SET_CASH``) has equity made of P&L alone,
  and a peak of a few currency units would turn the next small loss into a drawdown of
  100% and more. So the high-water mark starts only when the account is funded: at its
  first mark when it opened with cash (``may_start`` in ``mark_equity``), or when cash is
  set (``fund``). Until then drawdown is None and a drawdown rule has no evidence.
  A cash change from the back office is neither profit nor loss: ``fund`` moves the day
  start by the change and scales the high-water mark with equity, so daily P&L and the
  drawdown percentage stay what they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

DAY_MS = 24 * 3600 * 1000
# Leverage of exposure without positive equity (a finite number, so it fits every wire
# format and a "leverage > N" rule fires on it).
UNBOUNDED_LEVERAGE = 1e12

Money = float | Decimal


@dataclass(frozen=True, slots=True)
class Valuation:
    """An account's cash and positions valued at the last prices."""

    cash: float
    equity: float
    gross_exposure: float
    net_exposure: float
    largest_exposure: float
    largest_symbol: str | None
    open_positions: int
    unpriced: tuple[str, ...] = ()

    @property
    def leverage(self) -> float:
        """Return gross exposure / equity (see the module docstring)."""
        return leverage(self.gross_exposure, self.equity)

    @property
    def concentration(self) -> float:
        """Return the largest position's share of gross exposure."""
        return concentration(self.largest_exposure, self.gross_exposure)

    @property
    def largest_position_weight(self) -> float | None:
        """Return the largest |market value| / equity, or None when equity ≤ 0."""
        return ratio_to_equity(self.largest_exposure, self.equity)


def value_account(
    cash: Money, positions: Mapping[str, float], prices: Mapping[str, float]
) -> Valuation:
    """Value ``positions`` (symbol → signed qty) at ``prices`` (symbol → last price)."""
    values: list[float] = []
    largest, largest_symbol = 0.0, None
    unpriced: list[str] = []
    held = 0
    for symbol, qty in positions.items():
        if qty == 0:
            continue
        held += 1
        price = prices.get(symbol)
        if price is None or not math.isfinite(price):
            unpriced.append(symbol)
            continue
        value = qty * price
        values.append(value)
        if abs(value) > largest or largest_symbol is None:
            largest, largest_symbol = abs(value), symbol
    net = math.fsum(values)
    return Valuation(
        cash=float(cash),
        equity=math.fsum([float(cash), *values]),
        gross_exposure=math.fsum(abs(value) for value in values),
        net_exposure=net,
        largest_exposure=largest,
        largest_symbol=largest_symbol,
        open_positions=held,
        unpriced=tuple(sorted(unpriced)),
    )


def leverage(gross: float, equity: float) -> float:
    """Return gross / equity; 0 without exposure; ``UNBOUNDED_LEVERAGE`` if equity ≤ 0."""
    if gross == 0:
        return 0.0
    return gross / equity if equity > 0 else UNBOUNDED_LEVERAGE


def concentration(largest: float, gross: float) -> float:
    """Return ``largest`` / gross exposure, 0 without exposure."""
    return 0.0 if gross == 0 else abs(largest) / gross


def ratio_to_equity(amount: float | None, equity: float) -> float | None:
    """Return ``amount`` / equity; 0 for a zero amount; None ("no evidence") if equity ≤ 0."""
    if amount is None or not math.isfinite(amount):
        return None
    if amount == 0:
        return 0.0
    return amount / equity if equity > 0 else None


def largest_exposure(exposures: Iterable[float]) -> float:
    """Return the largest |exposure| of ``exposures`` (0 when there is none)."""
    return max((abs(value) for value in exposures), default=0.0)


@dataclass(frozen=True, slots=True)
class EquityMarks:
    """An account's equity high-water mark and the equity at the start of its day."""

    high_water: float | None = None
    day_start: float | None = None
    day: int | None = None


def mark_equity(marks: EquityMarks, equity: float, ts: int, may_start: bool) -> EquityMarks:
    """Return ``marks`` after observing ``equity`` at ``ts`` (epoch ms, UTC days).

    The day start is the first equity seen on each UTC day. The high-water mark rises with
    equity; it starts (at a positive equity) only when ``may_start``: the account opened
    with cash. Otherwise it waits for ``fund``.
    """
    day = ts // DAY_MS
    day_start = marks.day_start if marks.day == day else equity
    high = marks.high_water
    if high is not None:
        high = max(high, equity)
    elif may_start and equity > 0:
        high = equity
    return EquityMarks(high_water=high, day_start=day_start, day=day)


def fund(marks: EquityMarks, equity_before: float, equity_after: float) -> EquityMarks:
    """Return ``marks`` after the back office moved cash, equity going from before to after.

    A deposit or withdrawal is not P&L: the day start moves by the change, and the
    high-water mark scales with equity so the drawdown percentage is unchanged. Without a
    usable mark (none yet, or equity ≤ 0 before) the mark starts again at the new equity
    (or waits, when that is not positive).
    """
    change = equity_after - equity_before
    day_start = None if marks.day_start is None else marks.day_start + change
    high = marks.high_water
    if high is not None and high > 0 and equity_before > 0:
        high = high * equity_after / equity_before
    else:
        high = equity_after
    return EquityMarks(high_water=high if high > 0 else None, day_start=day_start, day=marks.day)


def daily_pnl(equity: float, marks: EquityMarks) -> float | None:
    """Return equity − the day's starting equity, or None before the first mark."""
    return None if marks.day_start is None else equity - marks.day_start


def drawdown(equity: float, high_water: float | None) -> float | None:
    """Return the fall from the high-water mark as a fraction of it, or None without one."""
    if high_water is None or high_water <= 0:
        return None
    return max(0.0, (high_water - equity) / high_water)
