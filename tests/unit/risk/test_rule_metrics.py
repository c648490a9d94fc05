"""The rule-metric catalogue: one list of names, every name computed, README in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from redfire.risk.rule_metrics import (
    RULE_METRICS,
    MetricInputs,
    canonical_metric,
    catalogue,
    catalogue_markdown,
    metric_values,
)
from redfire.risk.rules import parse_rules_yaml
from redfire.risk.validation import InvalidField
from redfire.risk.valuation import UNBOUNDED_LEVERAGE

REPO = Path(__file__).parents[3]


def full_inputs(**changes: object) -> MetricInputs:
    fields: dict[str, object] = {
        "equity": 1_000_000.0,
        "cash": 400_000.0,
        "gross_exposure": 700_000.0,
        "net_exposure": 600_000.0,
        "realized_pnl": 1_000.0,
        "unrealized_pnl": -2_000.0,
        "largest_exposure": 350_000.0,
        "open_positions": 3,
        "daily_pnl": -5_000.0,
        "drawdown": 0.02,
        "live_orders": 4,
        "var_95": 20_000.0,
        "var_99": 30_000.0,
        "es_975": 32_000.0,
        "var_exceptions": 1,
        "backtest_bars": 30,
        "traffic_light": "YELLOW",
        "es_backtest_z2": -0.4,
        "es_traffic_light": "GREEN",
        "reject_ratio": 0.1,
        "orders_per_s": 2.0,
        "stress_loss": 90_000.0,
    }
    fields.update(changes)
    return MetricInputs(**fields)  # type: ignore[arg-type]


def test_every_catalogue_metric_is_computed_from_full_inputs() -> None:
    values = metric_values(full_inputs())
    assert set(values) == set(RULE_METRICS)


def test_new_metrics_count_positions_and_orders_and_weigh_the_largest() -> None:
    values = metric_values(full_inputs())
    assert values["open_positions"] == 3
    assert values["live_orders"] == 4
    assert values["largest_position_weight"] == pytest.approx(0.35)
    assert values["concentration"] == pytest.approx(0.5)
    assert values["var_equity_ratio"] == pytest.approx(0.02)
    assert values["traffic_light"] == 1.0


def test_metrics_without_evidence_are_left_out() -> None:
    values = metric_values(
        full_inputs(equity=-10.0, drawdown=None, var_95=None, live_orders=None, daily_pnl=None)
    )
    for missing in (
        "drawdown",
        "var_95",
        "var_equity_ratio",
        "largest_position_weight",
        "live_orders",
        "daily_pnl",
    ):
        assert missing not in values
    assert values["leverage"] == UNBOUNDED_LEVERAGE


def test_unknown_metric_is_refused_with_the_catalogue_and_a_suggestion() -> None:
    with pytest.raises(InvalidField) as refused:
        canonical_metric("gross_exposre")
    message = str(refused.value)
    assert "metric='gross_exposre'" in message
    assert "did you mean 'gross_exposure'" in message
    assert all(name in message for name in RULE_METRICS)
    assert canonical_metric("var_95_ratio") == "var_equity_ratio"


def test_catalogue_is_plain_data_for_get_rules() -> None:
    rows = catalogue()
    assert [row["metric"] for row in rows] == list(RULE_METRICS)
    assert all(row["description"] and row["unit"] for row in rows)


def test_readme_shows_the_catalogue_as_generated() -> None:
    assert catalogue_markdown() in (REPO / "README.md").read_text()


def test_shipped_rules_use_catalogue_metrics() -> None:
    text = (REPO / "redfire" / "config" / "rules.default.yaml").read_text()
    assert {rule.metric for rule in parse_rules_yaml(text)} <= set(RULE_METRICS)
