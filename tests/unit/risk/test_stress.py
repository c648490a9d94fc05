"""Stress scenarios: shock resolution, PnL by hand, historical cumulative returns."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from redfire.risk.firm import merge_exposures
from redfire.risk.stress import (
    StressScenario,
    historical_scenario,
    parse_scenarios_yaml,
    resolve_shock,
    run_stress,
    scenario_from_payload,
    scenario_to_payload,
    with_history,
)

DEFAULT_SCENARIOS = Path(__file__).parents[3] / "redfire" / "config" / "scenarios.default.yaml"


def crash() -> StressScenario:
    return StressScenario(
        scenario_id="crash",
        name="crash",
        shocks={"AAPL": -0.25},
        default_shock=-0.10,
        groups={"tech": -0.30, "banks": 0.05},
        symbol_groups={"AAPL": "tech", "MSFT": "tech", "JPM": "banks"},
    )


def test_shock_resolution_order_is_symbol_group_default() -> None:
    scenario = crash()
    assert resolve_shock(scenario, "AAPL") == (-0.25, "symbol")
    assert resolve_shock(scenario, "MSFT") == (-0.30, "group")
    assert resolve_shock(scenario, "XOM") == (-0.10, "default")
    no_default = StressScenario(scenario_id="s", name="s", shocks={"AAPL": -0.2})
    assert resolve_shock(no_default, "XOM") == (0.0, "none")


def test_stress_pnl_equals_the_hand_computation() -> None:
    positions = {"AAPL": 100.0, "MSFT": -50.0, "JPM": 200.0, "XOM": 10.0}
    prices = {"AAPL": 200.0, "MSFT": 400.0, "JPM": 150.0, "XOM": 100.0}
    result = run_stress(crash(), positions, prices)
    expected = {
        "AAPL": 100 * 200 * -0.25,  # -5,000
        "MSFT": -50 * 400 * -0.30,  # +6,000
        "JPM": 200 * 150 * 0.05,  # +1,500
        "XOM": 10 * 100 * -0.10,  # -100
    }
    assert {impact.symbol: impact.pnl for impact in result.impacts} == pytest.approx(expected)
    assert result.pnl == pytest.approx(2_400.0)
    assert result.market_value == pytest.approx(20_000 - 20_000 + 30_000 + 1_000)
    assert result.unshocked == ()


def test_unshocked_and_unpriced_positions_are_flagged() -> None:
    scenario = StressScenario(scenario_id="s", name="s", shocks={"AAPL": -0.2})
    result = run_stress(
        scenario, {"AAPL": 10, "XOM": 5, "NOPRICE": 3, "FLAT": 0}, {"AAPL": 100, "XOM": 50}
    )
    assert result.unshocked == ("XOM",)
    assert result.missing_prices == ("NOPRICE",)
    assert result.pnl == pytest.approx(-200.0)
    assert [impact.symbol for impact in result.impacts] == ["AAPL", "XOM"]


def history() -> dict[str, list[tuple[str, float]]]:
    return {
        "AAA": [
            ("2020-02-18", 100.0),
            ("2020-02-21", 98.0),  # first date inside the range (20th is a gap)
            ("2020-03-02", 90.0),
            ("2020-03-20", 70.0),  # last date inside the range (23rd missing)
            ("2020-03-25", 75.0),
        ],
        "BBB": [("2020-03-10", 50.0), ("2020-02-20", 40.0), ("2020-03-23", 30.0)],  # unsorted
        "CCC": [("2020-03-01", 10.0)],  # one close in range: no shock
        "DDD": [("2019-01-01", 10.0), ("2021-01-01", 20.0)],  # nothing in range
    }


def independent_cumulative_return(points: list[tuple[str, float]], start: str, end: str) -> float:
    series = pd.Series({pd.Timestamp(day): close for day, close in points}).sort_index()
    window = series.loc[start:end]
    return float(window.iloc[-1] / window.iloc[0] - 1)


def test_historical_scenario_equals_independently_computed_cumulative_returns() -> None:
    start, end = "2020-02-20", "2020-03-23"
    scenario = historical_scenario(history(), start, end, scenario_id="covid", default_shock=-0.34)
    expected = {
        symbol: independent_cumulative_return(points, start, end)
        for symbol, points in history().items()
        if symbol in {"AAA", "BBB"}
    }
    assert dict(scenario.shocks) == pytest.approx(expected)
    assert scenario.shocks["AAA"] == pytest.approx(70 / 98 - 1)
    assert scenario.shocks["BBB"] == pytest.approx(30 / 40 - 1)
    assert resolve_shock(scenario, "CCC") == (-0.34, "default")
    assert (scenario.history_start, scenario.history_end) == (start, end)


def test_historical_scenario_accepts_date_objects() -> None:
    points = {"AAA": [(date(2020, 3, 2), 90.0), (date(2020, 3, 20), 70.0)]}
    scenario = historical_scenario(points, date(2020, 2, 20), date(2020, 3, 23))
    assert scenario.shocks["AAA"] == pytest.approx(70 / 90 - 1)


def test_with_history_fills_a_named_range_and_keeps_explicit_shocks() -> None:
    scenario = StressScenario(
        scenario_id="covid",
        name="covid",
        shocks={"BBB": -0.5},
        default_shock=-0.34,
        history_start="2020-02-20",
        history_end="2020-03-23",
    )
    filled = with_history(scenario, history())
    assert filled.shocks["AAA"] == pytest.approx(70 / 98 - 1)
    assert filled.shocks["BBB"] == -0.5
    assert with_history(crash(), history()) == crash()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"default_shock": -1.5}, "below -1"),
        ({"shocks": {"AAPL": "much"}}, "number"),
        ({"symbol_groups": {"AAPL": "nogroup"}}, "nogroup"),
        ({"history_start": "2020-03-01"}, "together"),
        ({"history_start": "2020-04-01", "history_end": "2020-03-01"}, "after"),
        ({"flavour": "spicy"}, "flavour"),
        ({"scenario_id": ""}, "scenario_id"),
    ],
)
def test_scenario_payload_errors(changes: dict[str, object], error: str) -> None:
    payload = {**scenario_to_payload(crash()), **changes}
    with pytest.raises(ValueError, match=error):
        scenario_from_payload(payload)


def test_scenario_payload_round_trips() -> None:
    assert scenario_from_payload(scenario_to_payload(crash())) == crash()


def test_default_scenarios_file_parses() -> None:
    scenarios = {s.scenario_id: s for s in parse_scenarios_yaml(DEFAULT_SCENARIOS.read_text())}
    assert scenarios["equity_crash_10"].default_shock == -0.10
    covid = scenarios["covid_2020_03"]
    assert (covid.history_start, covid.history_end) == ("2020-02-20", "2020-03-23")
    assert covid.default_shock == -0.34
    assert "rates_up_100bp" in scenarios


def test_duplicate_scenario_ids_are_rejected() -> None:
    entry = "- {scenario_id: a, default_shock: -0.1}\n"
    with pytest.raises(ValueError, match="duplicate"):
        parse_scenarios_yaml(entry + entry)


def test_merge_exposures_sums_by_symbol() -> None:
    merged = merge_exposures({"A": {"X": 100.0, "Y": -50.0}, "B": {"X": -100.0, "Z": 7.0}})
    assert merged == {"X": 0.0, "Y": -50.0, "Z": 7.0}
    with pytest.raises(ValueError, match="A/X"):
        merge_exposures({"A": {"X": float("nan")}})


def test_scenarios_pickle() -> None:
    assert pickle.loads(pickle.dumps(crash())) == crash()
