"""Coherence properties, checked with hypothesis over random books and return windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from redfire.risk.historical import historical_var
from redfire.risk.measures import Distribution, VaRConfig, VaRMethod
from redfire.risk.quantile import tail_var_es
from redfire.risk.var import compute_var

# No example database: unit tests should leave no files behind.
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, database=None)

CONFIGS = [
    VaRConfig(VaRMethod.HISTORICAL, confidence=0.99),
    VaRConfig(VaRMethod.HISTORICAL, confidence=0.95, horizon=5),
    VaRConfig(VaRMethod.PARAMETRIC, confidence=0.975),
    VaRConfig(VaRMethod.PARAMETRIC, confidence=0.99, distribution=Distribution.STUDENT_T),
    VaRConfig(VaRMethod.EWMA, confidence=0.95),
    VaRConfig(VaRMethod.FHS, confidence=0.99),
    VaRConfig(VaRMethod.MONTECARLO, confidence=0.99, scenarios=500, seed=1),
]
CONFIG_IDS = [f"{c.method}-{c.confidence}-{c.distribution}-h{c.horizon}" for c in CONFIGS]

returns_windows = st.integers(min_value=30, max_value=80).flatmap(
    lambda rows: st.integers(min_value=1, max_value=4).flatmap(
        lambda cols: arrays(
            np.float64,
            (rows, cols),
            elements=st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False),
        )
    )
)
market_values = st.floats(-1e7, 1e7, allow_nan=False, allow_subnormal=False)


def _exposures(data: st.DataObject, count: int) -> np.ndarray:
    """Draw one market value per symbol."""
    return np.array(data.draw(st.lists(market_values, min_size=count, max_size=count)))


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@PROPERTY_SETTINGS
@given(returns=returns_windows, data=st.data(), scale=st.floats(1e-3, 1e3))
def test_var_and_es_are_positively_homogeneous(
    config: VaRConfig, returns: np.ndarray, data: st.DataObject, scale: float
) -> None:
    exposures = _exposures(data, returns.shape[1])
    base = compute_var(returns, exposures, config)
    scaled = compute_var(returns, scale * exposures, config)
    size = 1e-9 * scale * (np.abs(exposures).sum() + 1.0)
    assert scaled.var == pytest.approx(scale * base.var, rel=1e-9, abs=size)
    assert scaled.es == pytest.approx(scale * base.es, rel=1e-9, abs=size)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@PROPERTY_SETTINGS
@given(returns=returns_windows, data=st.data())
def test_es_is_never_below_var(config: VaRConfig, returns: np.ndarray, data: st.DataObject) -> None:
    exposures = _exposures(data, returns.shape[1])
    result = compute_var(returns, exposures, config)
    assert result.es >= result.var - 1e-9 * (abs(result.var) + 1.0)


@PROPERTY_SETTINGS
@given(
    pnl=arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6)),
    cash=st.floats(-1e6, 1e6),
    confidence=st.sampled_from([0.95, 0.975, 0.99]),
)
def test_constant_cash_pnl_shifts_var_and_es_down_by_itself(
    pnl: np.ndarray, cash: float, confidence: float
) -> None:
    var, es = tail_var_es(pnl, confidence)
    shifted_var, shifted_es = tail_var_es(pnl + cash, confidence)
    assert shifted_var == pytest.approx(var - cash, abs=1e-6)
    assert shifted_es == pytest.approx(es - cash, abs=1e-6)


@PROPERTY_SETTINGS
@given(returns=returns_windows, data=st.data(), cash=st.floats(-1e6, 1e6))
def test_cash_position_with_a_fixed_return_shifts_historical_var(
    returns: np.ndarray, data: st.DataObject, cash: float
) -> None:
    # A cash position is a column of constant return 1 with market value `cash`:
    # every scenario gains `cash`, so VaR and ES fall by it.
    exposures = _exposures(data, returns.shape[1])
    with_cash = np.column_stack([returns, np.ones(returns.shape[0])])
    base = historical_var(returns, exposures, 0.99)
    shifted = historical_var(with_cash, np.append(exposures, cash), 0.99)
    assert shifted.var == pytest.approx(base.var - cash, abs=1e-6)
    assert shifted.es == pytest.approx(base.es - cash, abs=1e-6)
