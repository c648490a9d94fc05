"""ES backtests: Acerbi–Szekely Z1/Z2 and McNeil–Frey, by hand, against published values, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from redfire.risk.es_backtest import (
    EmpiricalPredictive,
    ScaledPredictive,
    acerbi_szekely,
    evaluate_es_backtest,
    exceedance_residuals,
    mcneil_frey,
    simulate_statistics,
    z1_statistic,
    z2_statistic,
)
from redfire.risk.measures import Distribution
from redfire.risk.parametric import normal_multipliers, student_t_multipliers

# Four bars at 97.5% (α = 2.5%): exceptions on bars 0 (−12 < −10) and 2 (−30 < −20).
PNL = np.array([-12.0, 5.0, -30.0, -1.0])
VAR = np.array([10.0, 10.0, 20.0, 10.0])
ES = np.array([15.0, 15.0, 25.0, 15.0])


def test_z1_and_z2_by_hand() -> None:
    # Z1 = (−12/15 − 30/25)/2 + 1 = (−0.8 − 1.2)/2 + 1 = 0: the losses beyond VaR
    # average exactly their ES.
    assert z1_statistic(PNL, VAR, ES) == pytest.approx(0.0, abs=1e-12)
    # Z2 = (−0.8 − 1.2)/(4 · 0.025) + 1 = −19: twice as many exceptions as 4 · 2.5%
    # can carry.
    assert z2_statistic(PNL, VAR, ES, 0.975) == pytest.approx(-19.0)


def test_z1_sees_losses_beyond_es() -> None:
    pnl, var, es = np.array([-12.0, -45.0]), np.array([10.0, 20.0]), np.array([15.0, 30.0])
    # (−0.8 − 1.5)/2 + 1 = −0.15; Z2 = −2.3/(2 · 0.025) + 1 = −45.
    assert z1_statistic(pnl, var, es) == pytest.approx(-0.15)
    assert z2_statistic(pnl, var, es, 0.975) == pytest.approx(-45.0)


def test_no_exceptions_give_z1_zero_and_z2_one() -> None:
    calm = np.full(250, 1.0)
    sigma, var, es = _normal_forecasts(250, 0.975)
    assert z1_statistic(calm, var, es) == 0.0
    assert z2_statistic(calm, var, es, 0.975) == 1.0
    z1, z2 = acerbi_szekely(calm, var, es, 0.975, ScaledPredictive(sigma), 1000, seed=1)
    # Nothing to reject: only simulated paths with exceptions fall below Z2 = 1,
    # and Z1 = 0 sits at the middle of its null distribution.
    assert z2.p_value > 0.99
    assert 0.3 < z1.p_value < 0.7


def test_every_bar_an_exception_at_its_es() -> None:
    var, es = np.full(100, 2.0), np.full(100, 2.5)
    pnl = -es  # every bar loses exactly its ES
    assert z1_statistic(pnl, var, es) == pytest.approx(0.0, abs=1e-12)
    # Z2 = T·(−1)/(T·α) + 1 = 1 − 1/α = −39 at 97.5%.
    assert z2_statistic(pnl, var, es, 0.975) == pytest.approx(-39.0)
    sigma = np.full(100, es[0] / normal_multipliers(0.975)[1])
    _, z2 = acerbi_szekely(pnl, var, es, 0.975, ScaledPredictive(sigma), 500, seed=2)
    assert z2.p_value == 0.0


def _normal_forecasts(bars: int, level: float, sigma: float = 1.0) -> tuple[np.ndarray, ...]:
    """Return (σ, VaR, ES) of a zero-mean normal P&L with volatility σ on every bar."""
    var_mult, es_mult = normal_multipliers(level)
    return np.full(bars, sigma), np.full(bars, var_mult * sigma), np.full(bars, es_mult * sigma)


def test_simulated_z2_critical_value_matches_mathworks_normal_table() -> None:
    # MathWorks Risk Management Toolbox, esbacktest/unconditionalNormal example
    # (ESBacktestData, 1966 observations, VaRLevel 0.975, TestLevel 0.99): the
    # critical value of Z2 under a standard normal P&L is −0.34639.
    sigma, var, es = _normal_forecasts(1966, 0.975)
    _, z2 = simulate_statistics(var, es, 0.975, ScaledPredictive(sigma), draws=20_000, seed=7)
    assert np.quantile(z2, 0.01) == pytest.approx(-0.34639, abs=0.015)
    assert np.mean(z2) == pytest.approx(0.0, abs=0.01)


def test_simulated_z2_critical_value_matches_mathworks_t3_table() -> None:
    # The same example, unconditionalT (Student t with 3 degrees of freedom):
    # critical value −0.42986. Z2 is scale-free, so a unit-variance t(3) will do.
    var_mult, es_mult = student_t_multipliers(0.975, 3.0)
    bars = 1966
    predictive = ScaledPredictive(np.ones(bars), Distribution.STUDENT_T, 3.0)
    var, es = np.full(bars, var_mult), np.full(bars, es_mult)
    _, z2 = simulate_statistics(var, es, 0.975, predictive, draws=20_000, seed=8)
    assert np.quantile(z2, 0.01) == pytest.approx(-0.42986, abs=0.02)


def test_z2_five_percent_threshold_at_250_bars_is_acerbi_szekelys_minus_070() -> None:
    sigma, var, es = _normal_forecasts(250, 0.975)
    _, z2 = simulate_statistics(var, es, 0.975, ScaledPredictive(sigma), draws=20_000, seed=9)
    assert np.quantile(z2, 0.05) == pytest.approx(-0.70, abs=0.03)


def test_p_values_are_uniform_under_a_correct_model() -> None:
    sigma, var, es = _normal_forecasts(250, 0.975)
    predictive = ScaledPredictive(sigma)
    _, null = simulate_statistics(var, es, 0.975, predictive, draws=4000, seed=10)
    observed = predictive.sample(np.random.default_rng(11), 400)
    p_values = np.array([np.mean(null < z2_statistic(path, var, es, 0.975)) for path in observed])
    # 400 correct-model backtests: about 5% reject at 5% (binomial 99.9% band).
    assert 0.015 < np.mean(p_values < 0.05) < 0.095


def test_z2_rejects_a_model_that_understates_volatility() -> None:
    sigma, var, es = _normal_forecasts(500, 0.975)
    truth = ScaledPredictive(sigma * 1.4)
    pnl = truth.sample(np.random.default_rng(12), 1)[0]
    _, z2 = acerbi_szekely(pnl, var, es, 0.975, ScaledPredictive(sigma), 2000, seed=13)
    assert z2.statistic < -0.7
    assert z2.p_value < 0.01


def test_simulation_is_seeded() -> None:
    sigma, var, es = _normal_forecasts(300, 0.99)
    first = simulate_statistics(var, es, 0.99, ScaledPredictive(sigma), 300, seed=5)
    again = simulate_statistics(var, es, 0.99, ScaledPredictive(sigma), 300, seed=5)
    other = simulate_statistics(var, es, 0.99, ScaledPredictive(sigma), 300, seed=6)
    assert np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_empirical_predictive_draws_each_bars_own_scenarios_uniformly() -> None:
    scenarios = [np.array([-3.0, 1.0]), np.array([-1.0, 0.0, 2.0, 5.0])]
    predictive = EmpiricalPredictive(scenarios)
    drawn = predictive.sample(np.random.default_rng(0), 40_000)
    assert set(np.unique(drawn[:, 0])) == {-3.0, 1.0}
    assert set(np.unique(drawn[:, 1])) == {-1.0, 0.0, 2.0, 5.0}
    assert np.mean(drawn[:, 1] == 5.0) == pytest.approx(0.25, abs=0.01)
    assert predictive.scale() == pytest.approx([2.0, np.std([-1.0, 0.0, 2.0, 5.0])])


def test_scaled_student_t_has_the_forecast_volatility() -> None:
    predictive = ScaledPredictive(np.array([2.0, 0.5]), Distribution.STUDENT_T, 5.0)
    drawn = predictive.sample(np.random.default_rng(1), 400_000)
    assert drawn.std(axis=0) == pytest.approx([2.0, 0.5], rel=0.02)


def test_mcneil_frey_residuals_and_t_by_hand() -> None:
    pnl = np.array([-12.0, 5.0, -30.0, -1.0, -25.0])
    var = np.array([10.0, 10.0, 20.0, 10.0, 20.0])
    es = np.array([15.0, 15.0, 25.0, 15.0, 22.0])
    sigma = np.array([5.0, 5.0, 10.0, 5.0, 2.0])
    # Exceptions on bars 0, 2, 4: (12 − 15)/5, (30 − 25)/10, (25 − 22)/2.
    residuals = exceedance_residuals(pnl, var, es, sigma)
    assert residuals == pytest.approx([-0.6, 0.5, 1.5])
    assert exceedance_residuals(pnl, var, es) == pytest.approx([-3.0, 5.0, 3.0])
    test = mcneil_frey(pnl, var, es, sigma, draws=2000, seed=0)
    mean, sd = (
        1.4 / 3,
        math.sqrt(((-0.6 - 1.4 / 3) ** 2 + (0.5 - 1.4 / 3) ** 2 + (1.5 - 1.4 / 3) ** 2) / 2),
    )
    t = mean / (sd / math.sqrt(3))
    assert (test.exceedances, test.standardised) == (3, True)
    assert test.mean_residual == pytest.approx(mean)
    assert test.t_statistic == pytest.approx(t)
    assert test.t_statistic == pytest.approx(0.76951, abs=1e-5)
    assert test.p_value_t == pytest.approx(stats.t.sf(t, 2))
    assert 0.0 < test.p_value < 1.0


def test_mcneil_frey_bootstrap_agrees_with_the_t_test_on_normal_residuals() -> None:
    rng = np.random.default_rng(3)
    bars = 4000
    var, es = np.full(bars, 1.0), np.full(bars, 1.5)
    pnl = rng.normal(0.0, 1.0, bars) * 3.0  # about 1000 exceptions, their mean loss ≈ 3.3
    test = mcneil_frey(pnl, var, es, draws=2000, seed=4)
    assert test.t_statistic > 5.0
    assert test.p_value == 0.0 and test.p_value_t < 1e-6
    calm = mcneil_frey(np.where(pnl < -1.0, -1.5 + rng.normal(0, 0.3, bars), 0.0), var, es)
    assert abs(calm.p_value - calm.p_value_t) < 0.06


def test_mcneil_frey_limits() -> None:
    var, es = np.full(5, 1.0), np.full(5, 2.0)
    none = mcneil_frey(np.zeros(5), var, es)
    assert (none.exceedances, none.t_statistic, none.p_value, none.p_value_t) == (0, 0.0, 1.0, 1.0)
    one = mcneil_frey(np.array([0.0, -3.0, 0.0, 0.0, 0.0]), var, es)
    assert (one.exceedances, one.t_statistic, one.p_value) == (1, 0.0, 1.0)
    every = mcneil_frey(np.full(5, -4.0), var, es)  # every residual is +2
    assert (every.exceedances, every.t_statistic, every.p_value) == (5, math.inf, 0.0)
    at_es = mcneil_frey(np.full(5, -2.0), var, es)  # every residual is 0
    assert (at_es.t_statistic, at_es.p_value) == (0.0, 1.0)


def test_report_has_every_es_field_and_json_safe_numbers() -> None:
    var, es = np.full(5, 1.0), np.full(5, 2.0)
    report = evaluate_es_backtest(
        np.full(5, -4.0), var, es, 0.975, ScaledPredictive(np.ones(5)), 200
    )
    record = report.as_dict()
    assert set(record) >= {
        "es_z1",
        "es_z1_p",
        "es_z2",
        "es_p",
        "es_mcneil_frey_t",
        "es_mcneil_frey_p",
    }
    # Each bar loses twice its ES: Z2 = 5 · (−4/2)/(5 · 0.025) + 1 = −79.
    assert record["es_z2"] == pytest.approx(-79.0)
    assert record["es_p"] == 0.0
    assert record["es_mcneil_frey_t"] is None  # +inf is not JSON
    assert report.exceptions == 5


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        z2_statistic(np.zeros(3), np.zeros(2), np.ones(3), 0.975)
    with pytest.raises(ValueError, match="positive"):
        z1_statistic(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="every backtested bar"):
        simulate_statistics(np.ones(3), np.ones(3), 0.975, ScaledPredictive(np.ones(4)))
