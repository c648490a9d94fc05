"""The shared tail rule: k = ceil(T·(1−c)), VaR = −k-th smallest P&L, ES = −mean of the k worst."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redfire.risk.historical import historical_var
from redfire.risk.measures import VaRMethod
from redfire.risk.quantile import tail_count, tail_scenarios, tail_var_es


@pytest.mark.parametrize(
    ("observations", "confidence", "expected"),
    [
        (250, 0.99, 3),  # 2.5 rounds up
        (500, 0.99, 5),  # 5.000000000000004 in floating point must stay 5
        (1000, 0.975, 25),
        (250, 0.95, 13),  # 12.5 rounds up
        (100, 0.95, 5),
        (10, 0.99, 1),  # fewer bars than 1/(1−c): the worst scenario
    ],
)
def test_tail_count_is_ceiling_of_expected_tail_size(
    observations: int, confidence: float, expected: int
) -> None:
    assert tail_count(observations, confidence) == expected


def test_historical_var_equals_kth_smallest_of_sorted_scenario_pnl() -> None:
    rng = np.random.default_rng(7)
    returns = rng.standard_t(4, size=(500, 12)) * 0.01
    exposures = rng.uniform(-2e6, 2e6, 12)
    pnl = np.sort(returns @ exposures)
    for confidence in (0.95, 0.975, 0.99):
        k = math.ceil(round(500 * (1 - confidence), 9))
        result = historical_var(returns, exposures, confidence)
        assert result.var == pytest.approx(-pnl[k - 1], rel=1e-12)
        assert result.es == pytest.approx(-pnl[:k].mean(), rel=1e-12)
        assert result.method is VaRMethod.HISTORICAL
        assert (result.confidence, result.horizon, result.window) == (confidence, 1, 500)


def test_horizon_scales_var_and_es_by_square_root_of_time() -> None:
    pnl = np.random.default_rng(1).normal(size=250)
    one_day = tail_var_es(pnl, 0.99, 1)
    ten_day = tail_var_es(pnl, 0.99, 10)
    assert ten_day[0] == pytest.approx(one_day[0] * math.sqrt(10))
    assert ten_day[1] == pytest.approx(one_day[1] * math.sqrt(10))


def test_tail_var_es_leaves_the_input_untouched() -> None:
    pnl = np.array([3.0, -1.0, 2.0, -5.0, 0.0])
    tail_var_es(pnl, 0.8)
    assert pnl.tolist() == [3.0, -1.0, 2.0, -5.0, 0.0]


def test_var_scenario_is_the_one_whose_loss_is_reported() -> None:
    pnl = np.random.default_rng(3).normal(size=300)
    index, tail = tail_scenarios(pnl, 0.99)
    var, es = tail_var_es(pnl, 0.99)
    assert -pnl[index] == var
    assert -pnl[tail].mean() == pytest.approx(es)


def test_all_gain_scenarios_give_negative_var() -> None:
    var, es = tail_var_es(np.array([1.0, 2.0, 3.0, 4.0]), 0.75)
    assert (var, es) == (-1.0, -1.0)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5])
def test_confidence_outside_unit_interval_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        tail_count(100, confidence)
