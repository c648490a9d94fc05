"""Stress scenarios (DESIGN §6): relative price shocks applied to positions.

A shock is a relative return (``-0.10`` = prices fall 10%). For each symbol the shock comes from
the first of: its own entry in ``shocks``; its group's shock (``symbol_groups`` → ``groups``);
``default_shock``; else 0, and the symbol is reported as *unshocked* so that a scenario that
forgot a holding is visible. Position PnL = qty × price × shock; positions without a price are
reported in ``missing_prices`` and left out of the PnL.

Historical scenarios turn price history into shocks: for each symbol the cumulative return
close(last date ≤ end) / close(first date ≥ start) − 1 over the dates inside [start, end]. A
scenario may name its range (``history_start``/``history_end``) and keep a representative
``default_shock`` for symbols without history; ``with_history`` fills the symbol shocks in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import yaml

from redfire.risk.validation import InvalidField, finite_number, require_known_fields

HistoryPoint = tuple[str | date, float]
PriceHistory = Mapping[str, Sequence[HistoryPoint]]
ShockSource = str  # "symbol" | "group" | "default" | "none"


@dataclass(frozen=True, slots=True)
class StressScenario:
    """Named relative shocks by symbol, by group and by default."""

    scenario_id: str
    name: str
    description: str = ""
    shocks: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    default_shock: float | None = None
    groups: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    symbol_groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    history_start: str | None = None
    history_end: str | None = None

    def __post_init__(self) -> None:
        _require(bool(self.scenario_id), "scenario_id must be a non-empty string")
        object.__setattr__(self, "shocks", _shock_map("shocks", self.shocks))
        object.__setattr__(self, "groups", _shock_map("groups", self.groups))
        object.__setattr__(self, "symbol_groups", MappingProxyType(dict(self.symbol_groups)))
        if self.default_shock is not None:
            object.__setattr__(self, "default_shock", _shock("default_shock", self.default_shock))
        unknown = sorted(set(self.symbol_groups.values()) - set(self.groups))
        _require(not unknown, f"symbol_groups name groups without a shock: {unknown}")
        _require(
            (self.history_start is None) == (self.history_end is None),
            "history_start and history_end go together",
        )
        if self.history_start is not None and self.history_end is not None:
            _require(
                _as_date(self.history_start) <= _as_date(self.history_end),
                f"history_start {self.history_start} is after history_end {self.history_end}",
            )

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickle as plain data (read-only mappings do not pickle)."""
        return scenario_from_payload, (scenario_to_payload(self),)


@dataclass(frozen=True, slots=True)
class PositionImpact:
    """The stressed PnL of one position and where its shock came from."""

    symbol: str
    qty: float
    price: float
    shock: float
    market_value: float
    pnl: float
    source: ShockSource

    @property
    def unshocked(self) -> bool:
        """Tell whether no shock applied to this symbol."""
        return self.source == "none"


@dataclass(frozen=True, slots=True)
class StressResult:
    """The scenario PnL of a portfolio, position by position."""

    scenario_id: str
    pnl: float
    market_value: float
    impacts: tuple[PositionImpact, ...]
    unshocked: tuple[str, ...]
    missing_prices: tuple[str, ...]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"invalid stress scenario: {message}")


def _shock(name: str, value: object) -> float:
    shock = finite_number(name, value)
    if shock < -1:
        raise InvalidField(name, value, "below -1: a price cannot fall more than 100%")
    return shock


def _shock_map(name: str, values: Mapping[str, object]) -> Mapping[str, float]:
    if not isinstance(values, Mapping):
        raise InvalidField(name, values, "expected a mapping of name to relative shock")
    return MappingProxyType({str(key): _shock(f"{name}[{key}]", v) for key, v in values.items()})


def resolve_shock(scenario: StressScenario, symbol: str) -> tuple[float, ShockSource]:
    """Return the shock for ``symbol`` and its source: symbol → group → default → none (0)."""
    if symbol in scenario.shocks:
        return scenario.shocks[symbol], "symbol"
    group = scenario.symbol_groups.get(symbol)
    if group is not None and group in scenario.groups:
        return scenario.groups[group], "group"
    if scenario.default_shock is not None:
        return scenario.default_shock, "default"
    return 0.0, "none"


def position_impact(
    scenario: StressScenario, symbol: str, qty: float, price: float
) -> PositionImpact:
    """Return the stressed PnL of ``qty`` of ``symbol`` at ``price``."""
    shock, source = resolve_shock(scenario, symbol)
    market_value = qty * price
    return PositionImpact(symbol, qty, price, shock, market_value, market_value * shock, source)


def run_stress(
    scenario: StressScenario,
    positions: Mapping[str, float],
    prices: Mapping[str, float],
) -> StressResult:
    """Apply ``scenario`` to ``positions`` (symbol → qty) valued at ``prices``."""
    impacts: list[PositionImpact] = []
    missing: list[str] = []
    for symbol in sorted(positions):
        qty = positions[symbol]
        if qty == 0:
            continue
        price = prices.get(symbol)
        if price is None or not math.isfinite(price):
            missing.append(symbol)
            continue
        impacts.append(position_impact(scenario, symbol, qty, price))
    return StressResult(
        scenario_id=scenario.scenario_id,
        pnl=math.fsum(impact.pnl for impact in impacts),
        market_value=math.fsum(impact.market_value for impact in impacts),
        impacts=tuple(impacts),
        unshocked=tuple(impact.symbol for impact in impacts if impact.unshocked),
        missing_prices=tuple(missing),
    )


# --- historical scenarios -------------------------------------------------------------------


def _as_date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an ISO date (YYYY-MM-DD), got {value!r}") from None


def cumulative_return(
    history: Sequence[HistoryPoint], start: str | date, end: str | date
) -> float | None:
    """Return close(last date ≤ end) / close(first date ≥ start) − 1, or None with < 2 dates."""
    first, last = _as_date(start), _as_date(end)
    inside = sorted(
        (_as_date(day), float(close)) for day, close in history if first <= _as_date(day) <= last
    )
    if len(inside) < 2:
        return None
    start_close, end_close = inside[0][1], inside[-1][1]
    if not (start_close > 0 and end_close > 0 and math.isfinite(start_close * end_close)):
        raise ValueError(f"closes must be positive and finite, got {start_close}, {end_close}")
    return end_close / start_close - 1


def historical_shocks(
    history: PriceHistory, start: str | date, end: str | date
) -> dict[str, float]:
    """Return each symbol's cumulative return over [start, end]; skip symbols without data."""
    if _as_date(start) > _as_date(end):
        raise ValueError(f"start {start} is after end {end}")
    shocks: dict[str, float] = {}
    for symbol, points in history.items():
        value = cumulative_return(points, start, end)
        if value is not None:
            shocks[symbol] = value
    return shocks


def historical_scenario(
    history: PriceHistory,
    start: str | date,
    end: str | date,
    scenario_id: str = "historical",
    name: str | None = None,
    description: str = "",
    default_shock: float | None = None,
) -> StressScenario:
    """Build a scenario whose symbol shocks are the cumulative returns over [start, end].

    ``history`` maps symbol → [(date, close), ...] with ISO date strings or ``date`` objects,
    in any order. Symbols with fewer than two closes in the range get no shock of their own.
    """
    start_text, end_text = _as_date(start).isoformat(), _as_date(end).isoformat()
    return StressScenario(
        scenario_id=scenario_id,
        name=name or f"historical {start_text}..{end_text}",
        description=description,
        shocks=historical_shocks(history, start, end),
        default_shock=default_shock,
        history_start=start_text,
        history_end=end_text,
    )


def with_history(scenario: StressScenario, history: PriceHistory) -> StressScenario:
    """Return ``scenario`` with symbol shocks from ``history`` over its range.

    Explicit symbol shocks in the scenario win; scenarios without a range come back unchanged.
    """
    if scenario.history_start is None or scenario.history_end is None:
        return scenario
    shocks = historical_shocks(history, scenario.history_start, scenario.history_end)
    return replace(scenario, shocks={**shocks, **scenario.shocks})


# --- payloads and YAML ----------------------------------------------------------------------

SCENARIO_FIELDS: tuple[str, ...] = tuple(spec.name for spec in fields(StressScenario))


def scenario_from_payload(payload: Mapping[str, Any]) -> StressScenario:
    """Build a scenario from an ``ADD_SCENARIO`` payload or a YAML entry; raise ValueError."""
    if not isinstance(payload, Mapping):
        raise InvalidField("scenario", payload, "expected a mapping of scenario fields")
    values = {str(key): value for key, value in payload.items()}
    try:
        return _scenario(values)
    except InvalidField as error:
        raise error.within(f"scenario {values.get('scenario_id')!r}") from None
    except ValueError as error:
        raise ValueError(f"scenario {values.get('scenario_id')!r}: {error}") from None


def _scenario(values: dict[str, Any]) -> StressScenario:
    require_known_fields("a scenario", list(values), SCENARIO_FIELDS, ("scenario_id",))
    scenario_id = values["scenario_id"]
    if not isinstance(scenario_id, str) or not scenario_id.strip():
        raise InvalidField("scenario_id", scenario_id, "expected a non-empty string")
    values.setdefault("name", values["scenario_id"])
    for mapping in ("shocks", "groups", "symbol_groups"):
        values[mapping] = values.get(mapping) or {}
    for text in ("history_start", "history_end"):
        if values.get(text) is not None:
            values[text] = _as_date(values[text]).isoformat()
    return StressScenario(**values)


def scenario_to_payload(scenario: StressScenario) -> dict[str, Any]:
    """Return the scenario as plain data that ``scenario_from_payload`` reads back."""
    payload: dict[str, Any] = {name: getattr(scenario, name) for name in SCENARIO_FIELDS}
    for mapping in ("shocks", "groups", "symbol_groups"):
        payload[mapping] = dict(payload[mapping])
    return payload


def parse_scenarios_yaml(text: str) -> list[StressScenario]:
    """Parse a list of scenarios (or ``{scenarios: [...]}``) from YAML; ids must be unique."""
    document = yaml.safe_load(text)
    if document is None:
        return []
    entries = document.get("scenarios") if isinstance(document, Mapping) else document
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError("scenarios YAML must be a list or a mapping with a 'scenarios' list")
    scenarios = [_scenario_at(index, entry) for index, entry in enumerate(entries)]
    ids = [scenario.scenario_id for scenario in scenarios]
    duplicates = sorted({scenario_id for scenario_id in ids if ids.count(scenario_id) > 1})
    if duplicates:
        raise ValueError(f"duplicate scenario_id {duplicates}")
    return scenarios


def _scenario_at(index: int, entry: object) -> StressScenario:
    if not isinstance(entry, Mapping):
        raise ValueError(f"scenario #{index + 1} must be a mapping, got {entry!r}")
    try:
        return scenario_from_payload(entry)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scenario #{index + 1}: {error}") from None
