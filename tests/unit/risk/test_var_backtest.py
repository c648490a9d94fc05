"""Backtest statistics against published answers, their limits, and the rolling forecast."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from redfire.risk.backtest import (
    TrafficLight,
    christoffersen_independence,
    compare_method,
    conditional_coverage,
    evaluate_backtest,
    evaluate_es,
    exceptions,
    kupiec_pof,
    rolling_backtest,
    rolling_forecasts,
    traffic_light,
    traffic_light_probability,
    transitions,
)
from redfire.risk.es_backtest import EmpiricalPredictive, ScaledPredictive
from redfire.risk.fhs import FilterSpec, SymbolFilter
from redfire.risk.historical import historical_var
from redfire.risk.measures import VaRConfig, VaRMethod, Volatility
from redfire.risk.quantile import tail_var_es

# Basel Committee on Banking Supervision, "Supervisory framework for the use of
# 'backtesting' in conjunction with the internal models approach to market risk
# capital requirements" (January 1996), Table 2: 250 observations at 99% coverage,
# exceptions -> zone and cumulative probability P(X <= x) in percent.
BASEL_TABLE = [
    (0, "green", 8.11),
    (1, "green", 28.58),
    (2, "green", 54.32),
    (3, "green", 75.81),
    (4, "green", 89.22),
    (5, "yellow", 95.88),
    (6, "yellow", 98.63),
    (7, "yellow", 99.60),
    (8, "yellow", 99.89),
    (9, "yellow", 99.97),
    (10, "red", 99.99),
]


@pytest.mark.parametrize(("count", "zone", "percent"), BASEL_TABLE)
def test_traffic_light_reproduces_the_basel_table(count: int, zone: str, percent: float) -> None:
    assert round(100 * traffic_light_probability(count, 250, 0.99), 2) == percent
    assert traffic_light(count, 250, 0.99) is TrafficLight(zone)


def test_traffic_light_stays_red_beyond_ten() -> None:
    assert all(traffic_light(x, 250, 0.99) is TrafficLight.RED for x in range(10, 251))


def test_traffic_light_generalises_by_the_same_binomial_thresholds() -> None:
    # 500 bars at 95%: 25 expected; green while P(X <= x) < 95%.
    zones = [traffic_light(x, 500, 0.95) for x in range(0, 60)]
    first_yellow = zones.index(TrafficLight.YELLOW)
    first_red = zones.index(TrafficLight.RED)
    assert traffic_light_probability(first_yellow - 1, 500, 0.95) < 0.95
    assert traffic_light_probability(first_yellow, 500, 0.95) >= 0.95
    assert traffic_light_probability(first_red - 1, 500, 0.95) < 0.9999
    assert traffic_light_probability(first_red, 500, 0.95) >= 0.9999


def _mathworks_sequence() -> np.ndarray:
    """Return an exception series with the counts of MathWorks' varbacktest example.

    MathWorks Risk Management Toolbox documentation, varbacktest pof/cci/cc examples
    (VaRBacktestData, EquityIndex vs Normal95): 1043 observations, 57 failures,
    N00 = 932, N01 = 53, N10 = 53, N11 = 4. The statistics depend only on these counts.
    """
    flags = [False]
    calm_bars = 986 - 1
    for cluster in range(53):
        flags += [True, True] if cluster < 4 else [True]
        flags += [False] * (calm_bars // 53 + (1 if cluster < calm_bars % 53 else 0))
    return np.array(flags)


def test_kupiec_christoffersen_and_cc_match_the_mathworks_worked_example() -> None:
    flags = _mathworks_sequence()
    counts = transitions(flags)
    assert (flags.size, int(flags.sum())) == (1043, 57)
    assert (counts.n00, counts.n01, counts.n10, counts.n11) == (932, 53, 53, 4)
    pof = kupiec_pof(57, 1043, 0.95)
    independence = christoffersen_independence(flags)
    coverage = conditional_coverage(pof, independence)
    # Published: LRatioPOF 0.46147, PValuePOF 0.49694; LRatioCCI 0.25866,
    # PValueCCI 0.61104; LRatioCC 0.72013, PValueCC 0.69763.
    assert (round(pof.lr, 5), round(pof.p_value, 5)) == (0.46147, 0.49694)
    assert (round(independence.lr, 5), round(independence.p_value, 5)) == (0.25866, 0.61104)
    assert (round(coverage.lr, 5), round(coverage.p_value, 5)) == (0.72013, 0.69763)
    assert (pof.dof, independence.dof, coverage.dof) == (1, 1, 2)


def test_zero_exceptions_give_a_finite_kupiec_statistic() -> None:
    pof = kupiec_pof(0, 250, 0.99)
    # Only the expected-rate term survives: −2·250·ln(0.99).
    assert pof.lr == pytest.approx(-2 * 250 * math.log(0.99))
    assert 0.0 < pof.p_value < 1.0
    independence = christoffersen_independence(np.zeros(250, dtype=bool))
    assert (independence.lr, independence.p_value) == (0.0, 1.0)


def test_every_bar_an_exception_gives_finite_statistics() -> None:
    pof = kupiec_pof(250, 250, 0.99)
    assert pof.lr == pytest.approx(-2 * 250 * math.log(0.01))
    assert pof.p_value == pytest.approx(0.0, abs=1e-12)
    independence = christoffersen_independence(np.ones(250, dtype=bool))
    assert math.isfinite(independence.lr) and independence.lr == pytest.approx(0.0, abs=1e-9)


def test_exact_expected_rate_gives_zero_kupiec_statistic() -> None:
    assert kupiec_pof(5, 500, 0.99).lr == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("flags", [[], [True], [False]])
def test_no_transitions_give_zero_independence_statistic(flags: list[bool]) -> None:
    assert christoffersen_independence(np.array(flags, dtype=bool)).lr == 0.0


def test_clustered_exceptions_fail_independence() -> None:
    flags = np.zeros(500, dtype=bool)
    flags[100:105] = True
    assert christoffersen_independence(flags).p_value < 0.01
    assert kupiec_pof(5, 500, 0.99).p_value > 0.99


def test_exception_is_a_loss_larger_than_var() -> None:
    pnl = np.array([-10.0, -10.000001, 5.0, -11.0])
    var = np.array([10.0, 10.0, 10.0, 10.0])
    assert exceptions(pnl, var).tolist() == [False, True, False, True]


def test_report_counts_exceptions_and_fills_the_json_fields() -> None:
    pnl = np.array([-1.0, -3.0, 2.0, -5.0])
    report = evaluate_backtest(pnl, np.full(4, 2.5), 0.95)
    assert (report.observations, report.exceptions) == (4, 2)
    assert report.exception_rate == 0.5
    assert set(report.as_dict()) >= {
        "observations",
        "exceptions",
        "exception_rate",
        "kupiec_lr",
        "kupiec_p",
        "christoffersen_lr",
        "christoffersen_p",
        "cc_lr",
        "cc_p",
        "traffic_light",
    }


def test_rolling_forecast_uses_only_returns_before_the_bar() -> None:
    rng = np.random.default_rng(0)
    prices = 100 * np.cumprod(1 + rng.normal(0, 0.01, size=(160, 2)), axis=0)
    values = np.array([1e6, -4e5])
    config = VaRConfig(VaRMethod.HISTORICAL, confidence=0.95)
    series = rolling_backtest(prices, values, 100, config)
    returns = prices[1:] / prices[:-1] - 1
    assert series.var.size == returns.shape[0] - 100
    for i in (0, 17, series.var.size - 1):
        t = 100 + i
        assert series.var[i] == historical_var(returns[t - 100 : t], values, 0.95).var
        assert series.pnl[i] == pytest.approx(returns[t] @ values)
        assert series.positions[i] == t + 1


def test_rolling_forecast_ignores_the_future() -> None:
    rng = np.random.default_rng(1)
    prices = 50 * np.cumprod(1 + rng.normal(0, 0.01, size=(140, 1)), axis=0)
    shocked = prices.copy()
    shocked[120:] *= 0.5  # a crash on row 120 must not move the forecast for it
    config = VaRConfig(VaRMethod.FHS, confidence=0.99)
    calm = rolling_backtest(prices, np.array([1e6]), 100, config)
    crash = rolling_backtest(shocked, np.array([1e6]), 100, config)
    forecast_for_row_120 = int(np.flatnonzero(calm.positions == 120)[0])
    same = slice(0, forecast_for_row_120 + 1)
    assert np.array_equal(calm.var[same], crash.var[same])
    crash_return = shocked[120, 0] / shocked[119, 0] - 1
    assert crash.pnl[forecast_for_row_120] == pytest.approx(1e6 * crash_return)
    assert crash.exceptions[forecast_for_row_120]


def test_rolling_backtest_refuses_non_positive_prices() -> None:
    prices = np.array([[1.0], [0.0], [1.0]])
    with pytest.raises(ValueError, match="positive"):
        rolling_backtest(prices, np.array([1.0]), 1, VaRConfig())


def _prices(bars: int, symbols: int, seed: int) -> np.ndarray:
    """Return a price path with volatility clusters."""
    rng = np.random.default_rng(seed)
    regime = np.repeat(rng.uniform(0.5, 2.0, bars // 40 + 1), 40)[:bars, None]
    moves = rng.standard_t(5, size=(bars, symbols)) * 0.008 * regime
    prices: np.ndarray = 100 * np.cumprod(1 + moves, axis=0)
    return prices


def test_forecasts_at_several_confidences_equal_one_run_per_confidence() -> None:
    prices = _prices(400, 2, seed=2)
    values = np.array([1e6, -3e5])
    for config in (
        VaRConfig(VaRMethod.HISTORICAL),
        VaRConfig(VaRMethod.FHS, fhs_fit_window=200, fhs_scenarios=200),
        VaRConfig(VaRMethod.PARAMETRIC),
    ):
        several = rolling_forecasts(prices, values, 150, config, (0.95, 0.99))
        for level in (0.95, 0.99):
            one = rolling_backtest(prices, values, 150, replace(config, confidence=level))
            assert np.array_equal(several.at(level).var, one.var)
            assert np.array_equal(several.at(level).es, one.es)
    with pytest.raises(ValueError, match="no forecasts"):
        several.at(0.975)


def test_fitted_fhs_backtest_runs_the_filters_as_a_worker_would() -> None:
    prices = _prices(420, 2, seed=3)
    values = np.array([1e6, 5e5])
    config = VaRConfig(VaRMethod.FHS, confidence=0.975, fhs_fit_window=200, fhs_scenarios=150)
    series = rolling_backtest(prices, values, 120, config)
    returns = prices[1:] / prices[:-1] - 1
    spec = FilterSpec(Volatility.GJR_T, fit_window=200, scenarios=150, refit_every=20)
    filters = [SymbolFilter.from_history(spec, returns[:120, i]) for i in range(2)]
    for i, t in enumerate(range(120, returns.shape[0])):
        if t > 120:
            for j, symbol_filter in enumerate(filters):
                symbol_filter.on_bar(float(returns[t - 1, j]))
                if symbol_filter.needs_refit:
                    symbol_filter.refit()
        scenarios = np.column_stack([f.scenario_column() for f in filters]) @ values
        assert series.var[i] == tail_var_es(scenarios, 0.975)[0]
    assert isinstance(series.predictive, EmpiricalPredictive)
    # The scenario count grows with the history up to fhs_scenarios.
    assert series.predictive.scale().size == series.var.size


def test_es_backtest_of_a_rolling_series() -> None:
    prices = _prices(500, 1, seed=4)
    parametric = rolling_backtest(prices, np.array([1e6]), 250, VaRConfig(VaRMethod.PARAMETRIC))
    assert isinstance(parametric.predictive, ScaledPredictive)
    report = evaluate_es(parametric, 0.99, draws=300, seed=1)
    assert report.observations == parametric.var.size
    assert report.exceptions == int(parametric.exceptions.sum())
    assert 0.0 <= report.z2.p_value <= 1.0
    with pytest.raises(ValueError, match="predictive"):
        evaluate_es(replace(parametric, predictive=None), 0.99)


def test_compare_method_reports_every_confidence() -> None:
    prices = _prices(400, 1, seed=5)
    result = compare_method(
        "historical", prices, np.array([1e6]), 250, VaRConfig(), (0.95, 0.99), draws=200
    )
    records = result.records()
    assert [r["confidence"] for r in records] == [0.95, 0.99]
    assert all(r["method"] == "historical" for r in records)
    assert {"kupiec_p", "cc_p", "es_z2", "es_p", "es_mcneil_frey_p"} <= set(records[0])
