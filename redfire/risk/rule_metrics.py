"""The catalogue of metrics a monitoring rule may watch, and how their values are computed.

One place for the names: the rule validator refuses any other name (a rule on a misspelt
metric would never fire), the README's table is generated from ``catalogue_markdown`` and
``GET /rules`` lists ``catalogue``. ``metric_values`` turns one account's (or the firm's)
figures into the values the rules read; a metric without evidence (no VaR history yet, a
ratio to non-positive equity, a drawdown before the account is funded) is left out, and a
rule on it neither fires nor resolves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from redfire.risk import valuation
from redfire.risk.validation import InvalidField


@dataclass(frozen=True, slots=True)
class RuleMetric:
    """One metric a rule may name: what it measures and in which unit."""

    name: str
    unit: str
    description: str
    firm: bool = True  # also computed for the FIRM key


_CATALOGUE = (
    RuleMetric("equity", "currency", "cash + market value of the positions"),
    RuleMetric("cash", "currency", "cash balance (SET_CASH, moved by fills and fees)"),
    RuleMetric("gross_exposure", "currency", "sum of |market value| of the positions"),
    RuleMetric("net_exposure", "currency", "sum of market value of the positions"),
    RuleMetric(
        "leverage", "ratio", "gross exposure / equity; 1e12 when exposure has no positive equity"
    ),
    RuleMetric("realized_pnl", "currency", "realized P&L of the positions, gross of fees"),
    RuleMetric("unrealized_pnl", "currency", "unrealized P&L at the last prices"),
    RuleMetric("daily_pnl", "currency", "equity − equity at the day's first snapshot (UTC)"),
    RuleMetric(
        "drawdown",
        "fraction",
        "fall from the equity high-water mark; none until the account is funded",
    ),
    RuleMetric("concentration", "fraction", "largest |market value| / gross exposure"),
    RuleMetric(
        "largest_position_weight",
        "fraction",
        "largest |market value| / equity; none when equity ≤ 0",
    ),
    RuleMetric("open_positions", "count", "symbols with a non-zero position"),
    RuleMetric(
        "live_orders", "count", "approved orders not yet filled, cancelled or expired", firm=False
    ),
    RuleMetric("var_95", "currency", "Value-at-Risk at 95%; none without return history"),
    RuleMetric("var_99", "currency", "Value-at-Risk at 99%; none without return history"),
    RuleMetric("es_975", "currency", "expected shortfall at 97.5%; none without history"),
    RuleMetric("var_equity_ratio", "fraction", "VaR(95%) / equity; none when equity ≤ 0"),
    RuleMetric(
        "var_exceptions", "count", "days the P&L broke VaR(99%) in the live backtest", firm=False
    ),
    RuleMetric("backtest_bars", "count", "bars scored by the live VaR backtest", firm=False),
    RuleMetric(
        "traffic_light",
        "level",
        "Basel zone of the live backtest: 0 green, 1 yellow, 2 red",
        firm=False,
    ),
    RuleMetric(
        "es_backtest_z2",
        "statistic",
        "Acerbi-Szekely Z2 of ES(97.5%) in the live backtest (≤ −0.70 yellow, ≤ −1.8 red)",
        firm=False,
    ),
    RuleMetric(
        "es_traffic_light",
        "level",
        "zone of the live ES backtest once 250 bars are in: 0 green, 1 yellow, 2 red",
        firm=False,
    ),
    RuleMetric(
        "reject_ratio", "fraction", "rejected / decided orders over the last minute", firm=False
    ),
    RuleMetric("orders_per_s", "rate", "order requests in the last second", firm=False),
    RuleMetric(
        "stress_loss", "currency", "worst loss of the scheduled stress scenarios", firm=False
    ),
)
RULE_METRICS: Mapping[str, RuleMetric] = MappingProxyType({m.name: m for m in _CATALOGUE})
# Seed 000's names, accepted in payloads and stored under the canonical name.
METRIC_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "var_95_ratio": "var_equity_ratio",
        "max_drawdown": "drawdown",
        "concentration_risk": "concentration",
    }
)
TRAFFIC_LIGHT_LEVELS: Mapping[str, float] = MappingProxyType(
    {"GREEN": 0.0, "YELLOW": 1.0, "RED": 2.0}
)


def canonical_metric(name: object) -> str:
    """Return the catalogue name for ``name`` (aliases resolved); raise InvalidField if none."""
    if isinstance(name, str):
        found = METRIC_ALIASES.get(name, name)
        if found in RULE_METRICS:
            return found
    raise InvalidField("metric", name, "not a rule metric", tuple(RULE_METRICS))


def catalogue() -> list[dict[str, object]]:
    """Return the catalogue as plain data (``GET /rules``)."""
    return [
        {"metric": m.name, "unit": m.unit, "description": m.description, "firm": m.firm}
        for m in _CATALOGUE
    ]


def catalogue_markdown() -> str:
    """Return the catalogue as the Markdown table the README shows."""
    lines = ["| metric | unit | meaning |", "|---|---|---|"]
    for metric in _CATALOGUE:
        scope = "" if metric.firm else " (accounts only)"
        lines.append(f"| `{metric.name}` | {metric.unit} | {metric.description}{scope} |")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class MetricInputs:
    """The figures of one account (or the firm) that rule metrics are computed from.

    ``None`` means "no evidence" (no history, not funded, not known for this key).
    """

    equity: float
    cash: float
    gross_exposure: float
    net_exposure: float
    realized_pnl: float
    unrealized_pnl: float
    largest_exposure: float
    open_positions: int
    daily_pnl: float | None = None
    drawdown: float | None = None
    live_orders: int | None = None
    var_95: float | None = None
    var_99: float | None = None
    es_975: float | None = None
    var_exceptions: int | None = None
    backtest_bars: int | None = None
    traffic_light: str | None = None
    es_backtest_z2: float | None = None
    es_traffic_light: str | None = None
    reject_ratio: float | None = None
    orders_per_s: float | None = None
    stress_loss: float | None = None


def metric_values(inputs: MetricInputs) -> dict[str, float]:
    """Return every rule metric with evidence for ``inputs``, by catalogue name."""
    equity = inputs.equity
    light = inputs.traffic_light
    values: dict[str, float | int | None] = {
        "equity": equity,
        "cash": inputs.cash,
        "gross_exposure": inputs.gross_exposure,
        "net_exposure": inputs.net_exposure,
        "leverage": valuation.leverage(inputs.gross_exposure, equity),
        "realized_pnl": inputs.realized_pnl,
        "unrealized_pnl": inputs.unrealized_pnl,
        "daily_pnl": inputs.daily_pnl,
        "drawdown": inputs.drawdown,
        "concentration": valuation.concentration(inputs.largest_exposure, inputs.gross_exposure),
        "largest_position_weight": valuation.ratio_to_equity(inputs.largest_exposure, equity),
        "open_positions": inputs.open_positions,
        "live_orders": inputs.live_orders,
        "var_95": inputs.var_95,
        "var_99": inputs.var_99,
        "es_975": inputs.es_975,
        "var_equity_ratio": valuation.ratio_to_equity(inputs.var_95, equity),
        "var_exceptions": inputs.var_exceptions,
        "backtest_bars": inputs.backtest_bars,
        "traffic_light": None if light is None else TRAFFIC_LIGHT_LEVELS.get(light),
        "es_backtest_z2": inputs.es_backtest_z2,
        "es_traffic_light": (
            None
            if inputs.es_traffic_light is None
            else TRAFFIC_LIGHT_LEVELS.get(inputs.es_traffic_light)
        ),
        "reject_ratio": inputs.reject_ratio,
        "orders_per_s": inputs.orders_per_s,
        "stress_loss": inputs.stress_loss,
    }
    return {
        name: float(value)
        for name, value in values.items()
        if value is not None and math.isfinite(value)
    }
