"""Filtered historical simulation: historical returns rescaled to today's volatility.

Each symbol's return r_t is divided by its conditional volatility σ_t (the
forecast made the bar before) and multiplied by the forecast for the next bar,
σ_{T+1}: r̃_t = r_t · σ_{T+1}/σ_t. The scenarios keep the empirical shape of the
standardised returns but carry the current volatility level, so a calm window
after a storm (or the reverse) no longer misstates risk. The filtered matrix
then goes through the same P&L and tail code as historical simulation.

Volatility models, fitted per symbol over the same window that supplies the
scenarios (so a symbol's filtered column depends on its own window only):
* EWMA: σ²_t = λσ²_{t−1} + (1−λ)r²_{t−1}, seeded with the window's mean r².
* GARCH(1,1), zero mean, normal innovations, fitted by `arch` (returns ×100 for
  the optimiser's sake): σ²_t = ω + αr²_{t−1} + βσ²_{t−1}.
A symbol whose returns are all zero has no volatility to rescale; its scenarios
stay zero.
"""

from __future__ import annotations

import numpy as np

from redfire.risk.covariance import RISKMETRICS_LAMBDA
from redfire.risk.historical import scenario_var
from redfire.risk.measures import FloatArray, VaRMethod, VaRResult, Volatility

# arch's optimiser is tuned for returns in percent.
_GARCH_SCALE = 100.0


def ewma_variance(
    returns: FloatArray, lam: float = RISKMETRICS_LAMBDA
) -> tuple[FloatArray, FloatArray]:
    """Return (σ²_t for each bar, σ²_{T+1}) of the EWMA recursion, column by column.

    `returns` is T or T × n, most recent last.
    """
    squared = np.square(returns)
    seed = squared.mean(axis=0)
    # lfilter runs u_t = λu_{t−1} + (1−λ)r²_t with u_{−1} = seed; σ²_t is u_{t−1}.
    initial = (lam * seed)[np.newaxis, ...]
    from scipy import signal  # imported here: scipy.signal takes seconds to import

    updated, _ = signal.lfilter([1.0 - lam], [1.0, -lam], squared, axis=0, zi=initial)
    conditional = np.concatenate([seed[np.newaxis, ...], updated[:-1]], axis=0)
    return conditional, updated[-1]


def garch_variance(returns: FloatArray) -> tuple[FloatArray, float]:
    """Return (σ²_t for each bar, σ²_{T+1}) of a zero-mean GARCH(1,1) fitted by arch."""
    from arch import arch_model  # imported here: only the GARCH path pays for arch

    scaled = np.asarray(returns, dtype=np.float64) * _GARCH_SCALE
    model = arch_model(scaled, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    fit = model.fit(disp="off", show_warning=False)
    conditional = np.asarray(fit.conditional_volatility, dtype=np.float64) ** 2
    omega, alpha, beta = (float(fit.params[name]) for name in ("omega", "alpha[1]", "beta[1]"))
    forecast = omega + alpha * scaled[-1] ** 2 + beta * conditional[-1]
    return conditional / _GARCH_SCALE**2, forecast / _GARCH_SCALE**2


def _rescale(returns: FloatArray, conditional: FloatArray, forecast: FloatArray) -> FloatArray:
    """Return r_t·σ_{T+1}/σ_t, leaving zero where σ_t is zero."""
    ratio = np.divide(
        np.sqrt(forecast),
        np.sqrt(conditional),
        out=np.zeros_like(conditional),
        where=conditional > 0.0,
    )
    filtered: FloatArray = returns * ratio
    return filtered


def filter_column(
    returns: FloatArray, volatility: Volatility, lam: float = RISKMETRICS_LAMBDA
) -> FloatArray:
    """Return one symbol's return window rescaled to its next-bar volatility."""
    column = np.asarray(returns, dtype=np.float64)
    if volatility is Volatility.GARCH:
        if not np.any(column):
            return np.zeros_like(column)
        conditional, forecast = garch_variance(column)
        return _rescale(column, conditional, np.asarray(forecast))
    conditional, next_variance = ewma_variance(column, lam)
    return _rescale(column, conditional, next_variance)


def filtered_scenarios(
    returns: FloatArray, volatility: Volatility, lam: float = RISKMETRICS_LAMBDA
) -> FloatArray:
    """Return the T × n filtered scenario matrix of a T × n return window."""
    matrix = np.asarray(returns, dtype=np.float64)
    if volatility is Volatility.EWMA:
        conditional, next_variance = ewma_variance(matrix, lam)
        return _rescale(matrix, conditional, next_variance)
    columns = [filter_column(matrix[:, i], volatility, lam) for i in range(matrix.shape[1])]
    if not columns:
        return np.zeros_like(matrix)
    return np.column_stack(columns)


def fhs_var(
    returns: FloatArray,
    exposures: FloatArray,
    confidence: float,
    horizon: int = 1,
    volatility: Volatility = Volatility.EWMA,
    lam: float = RISKMETRICS_LAMBDA,
) -> VaRResult:
    """Return filtered-historical-simulation VaR/ES of market values over a return window."""
    scenarios = filtered_scenarios(returns, volatility, lam)
    window = int(returns.shape[0])
    return scenario_var(scenarios, exposures, confidence, horizon, VaRMethod.FHS, window)
