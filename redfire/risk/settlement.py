"""Trading days and the A-share T+1 rule: what an account may sell today.

Trading day. Each market has a ``SessionClock``: its time zone and the local time its trading
day ends (after the close and any after-hours session, before the next pre-open). A timestamp
belongs to the trading day that ends next, labelled by that day's local date as a day number
(days since 1970-01-01). T+1 needs only the boundary between days, never the holiday calendar:
shares bought on Friday are sellable on Monday because Monday is a later day, whatever lies in
between. The defaults (``DEFAULT_SESSIONS``):

    XSHG, XSHE  Asia/Shanghai 16:00    (close 15:00, STAR/ChiNext after-hours until 15:30)
    XHKG        Asia/Hong_Kong 16:30   (closing auction until about 16:10)
    US          America/New_York 20:00 (after-hours until 20:00)
    FX          America/New_York 17:00 (the FX value-date roll)

T+1 (XSHG/XSHE, or any instrument whose master entry says ``t_plus_one``): a SELL may not exceed
the position held at the start of the trading day minus what was sold today, minus the open
quantity of the account's live SELL orders in the symbol (the exchange freezes shares on order
entry, so two sells cannot both count on the same shares). Shares bought today only become
sellable on the next trading day.

State per (account, symbol): a ``DayPosition`` (day, start-of-day quantity, sold today), moved by
fills (``apply_fill_to_day``) and rolled lazily when an event of a later day arrives: the
start-of-day quantity of a new day is the position held when that day begins, i.e. before the
first fill of the day. A late fill of an earlier day (its ``ts`` before the current day) moves
the start-of-day quantity, since those shares were held (or gone) by the start of today.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)

DEFAULT_SESSIONS: Mapping[str, str] = MappingProxyType(
    {
        "XSHG": "Asia/Shanghai 16:00",
        "XSHE": "Asia/Shanghai 16:00",
        "XHKG": "Asia/Hong_Kong 16:30",
        "US": "America/New_York 20:00",
        "FX": "America/New_York 17:00",
    }
)


class SessionClock:
    """Map epoch milliseconds to trading days of one market (its zone and day-end time).

    Deterministic and pure; it remembers the bounds of the last day it computed, so that the
    day of an order inside the same day costs two comparisons.
    """

    __slots__ = ("_day", "_end", "_shift", "_start", "day_end", "zone")

    def __init__(self, zone: ZoneInfo, day_end: time) -> None:
        self.zone = zone
        self.day_end = day_end
        end = timedelta(hours=day_end.hour, minutes=day_end.minute)
        # Adding this to local wall time lands inside the date that labels the trading day.
        self._shift = (timedelta(days=1) - end) % timedelta(days=1)
        self._start = self._end = 0
        self._day = -(2**31)

    @classmethod
    def parse(cls, text: str) -> SessionClock:
        """Build a clock from ``"ZONE HH:MM"`` (e.g. ``Asia/Shanghai 16:00``)."""
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f"expected 'ZONE HH:MM' (e.g. 'Asia/Shanghai 16:00'), got {text!r}")
        zone_name, clock = parts
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone_name!r} in {text!r}") from None
        try:
            day_end = time.fromisoformat(clock)
        except ValueError:
            raise ValueError(f"day end {clock!r} in {text!r} is not HH:MM") from None
        if day_end.second or day_end.microsecond:
            raise ValueError(f"day end {clock!r} in {text!r} must be whole minutes")
        return cls(zone, day_end)

    def describe(self) -> str:
        """Return the clock as ``ZONE HH:MM``."""
        return f"{self.zone.key} {self.day_end:%H:%M}"

    def trading_day(self, ts: int) -> int:
        """Return the trading day of ``ts`` (epoch ms) as a day number (the session's date)."""
        if self._start <= ts < self._end:
            return self._day
        local = datetime.fromtimestamp(ts / 1000, tz=self.zone).replace(tzinfo=None)
        day = ((local + self._shift).date() - EPOCH).days
        self._day, self._start, self._end = day, self.day_start(day), self.day_start(day + 1)
        return day

    def day_start(self, day: int) -> int:
        """Return the epoch ms at which trading day ``day`` begins (the previous day's end)."""
        label = EPOCH + timedelta(days=day)
        start_date = label if self._shift == timedelta(0) else label - timedelta(days=1)
        local = datetime.combine(start_date, self.day_end, tzinfo=self.zone)
        return int(local.astimezone(UTC).timestamp() * 1000)

    def trading_date(self, ts: int) -> date:
        """Return the local date that labels the trading day of ``ts``."""
        return EPOCH + timedelta(days=self.trading_day(ts))


def session_clocks(overrides: Mapping[str, str] | None = None) -> dict[str, SessionClock]:
    """Return market → clock: ``DEFAULT_SESSIONS`` with ``overrides`` (market → "ZONE HH:MM").

    Raise ValueError naming the market on a bad entry.
    """
    merged = {**DEFAULT_SESSIONS, **(overrides or {})}
    clocks: dict[str, SessionClock] = {}
    for market, text in merged.items():
        try:
            clocks[market] = SessionClock.parse(text)
        except ValueError as exc:
            raise ValueError(f"market {market}: {exc}") from None
    return clocks


# --- T+1 ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayPosition:
    """The T+1 state of one (account, symbol): the day, its opening quantity, what was sold."""

    day: int
    start_qty: float
    sold_qty: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        """Return JSON-friendly fields (to store beside the position record)."""
        return {"day": self.day, "start_qty": self.start_qty, "sold_qty": self.sold_qty}

    @classmethod
    def from_dict(cls, data: Mapping[str, float | int]) -> DayPosition:
        """Build the state from ``to_dict`` output."""
        return cls(int(data["day"]), float(data["start_qty"]), float(data["sold_qty"]))


def day_position_on(state: DayPosition | None, day: int, position_qty: float) -> DayPosition:
    """Return the state as of trading day ``day``: rolled over when ``day`` is a later one.

    ``position_qty`` is the position now, before anything of ``day`` happened when the day is
    new; a missing state starts from it (the first day RedFire sees the symbol).
    """
    if state is None or day > state.day:
        return DayPosition(day, position_qty)
    return state


def apply_fill_to_day(
    state: DayPosition | None, fill_day: int, side: str, qty: float, position_before: float
) -> DayPosition:
    """Return the state after a fill of ``fill_day`` (``position_before`` excludes the fill)."""
    current = day_position_on(state, fill_day, position_before)
    if fill_day < current.day:
        signed = qty if side == "BUY" else -qty
        return replace(current, start_qty=current.start_qty + signed)
    if side == "SELL":
        return replace(current, sold_qty=current.sold_qty + qty)
    return current


@dataclass(frozen=True, slots=True)
class Sellable:
    """What a T+1 account may still sell today, and why."""

    start_qty: float
    sold_qty: float
    open_sell_qty: float = 0.0

    @property
    def available(self) -> float:
        """Return max(0, start of day − sold today − open sells)."""
        return max(0.0, self.start_qty - self.sold_qty - self.open_sell_qty)

    def describe(self) -> str:
        """Return the arithmetic behind ``available`` as text."""
        return (
            f"start of day {_qty(self.start_qty)} − sold today {_qty(self.sold_qty)} − "
            f"open sells {_qty(self.open_sell_qty)}"
        )


def sellable(
    state: DayPosition | None, day: int, position_qty: float, open_sell_qty: float = 0.0
) -> Sellable:
    """Return the sellable quantity on ``day`` for the state, position and open sell orders.

    ``open_sell_qty`` is the remaining quantity of the account's live SELL orders in the
    symbol, without the order being replaced when the question is about a REPLACE.
    """
    current = day_position_on(state, day, position_qty)
    return Sellable(current.start_qty, current.sold_qty, open_sell_qty)


def _qty(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return f"{int(value):,}"
    return f"{value:,.8f}".rstrip("0").rstrip(".")
