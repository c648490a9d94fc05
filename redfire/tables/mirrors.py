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

    window: ReturnWindow
    returns: FloatArray

    @property
    def last_close(self) -> float | None:
        return self.window.last_close

    @property
    def last_bar_start(self) -> int:
        return -1 if self.window.last_bar_start is None else self.window.last_bar_start


def decode_price(raw: dict[str, Any]) -> PriceMark:
    return PriceMark(float(raw["price"]), int(raw["ts"]), raw.get("bid"), raw.get("ask"))


def decode_window(raw: dict[str, Any]) -> WindowMark:
    window = ReturnWindow.from_dict(raw)
    array = window_array(window)
    array.setflags(write=False)
    return WindowMark(window, array)


def decode_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    return dict(raw)


prices: Mirror[PriceMark] = Mirror("prices", decode_price, lambda mark: mark.ts)
windows: Mirror[WindowMark] = Mirror(
    "returns", decode_window, lambda mark: (mark.last_bar_start, len(mark.returns))
)
limits: Mirror[dict[str, Any]] = Mirror(
    "limits", decode_overrides, lambda value: value.get("_version", 0)
)
rules: Mirror[dict[str, Any]] = Mirror(
    "rules", decode_overrides, lambda value: value.get("_version", 0)
)
scenarios: Mirror[dict[str, Any]] = Mirror(
    "scenarios", decode_overrides, lambda value: value.get("_version", 0)
)
