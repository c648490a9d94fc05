"""The mirrors of the hot global tables (see ``mirror.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redfire.risk.bars import ReturnWindow, window_array
from redfire.risk.measures import FloatArray
from redfire.tables.mirror import Mirror


@dataclass(frozen=True, slots=True)
class PriceMark:
    price: float
    ts: int
    bid: float | None = None
    ask: float | None = None


@dataclass(frozen=True, slots=True)
class WindowMark:
    """A return window decoded once: returns (oldest first) and the last close."""

    returns: FloatArray
    last_close: float | None
    last_bar_start: int | None


def decode_price(raw: dict[str, Any]) -> PriceMark:
    return PriceMark(float(raw["price"]), int(raw["ts"]), raw.get("bid"), raw.get("ask"))


def decode_window(raw: dict[str, Any]) -> WindowMark:
    window = ReturnWindow.from_dict(raw)
    array = window_array(window)
    array.setflags(write=False)
    return WindowMark(array, window.last_close, window.last_bar_start)


def decode_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    return dict(raw)


prices: Mirror[PriceMark] = Mirror("prices", decode_price)
windows: Mirror[WindowMark] = Mirror("returns", decode_window)
limits: Mirror[dict[str, Any]] = Mirror("limits", decode_overrides)
