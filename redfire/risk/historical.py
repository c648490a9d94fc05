"""Historical simulation: replay the window's returns on today's exposures."""

from __future__ import annotations

from redfire.risk.measures import FloatArray, VaRMethod, VaRResult
from redfire.risk.quantile import scenario_pnl, tail_var_es


def scenario_var(
    scenarios: FloatArray,
    exposures: FloatArray,
    confidence: float,
    horizon: int,
    method: VaRMethod,
    window: int,
) -> VaRResult:
    """Return VaR/ES of exposures over any scenario return matrix (scenarios × symbols).

    The one P&L-and-tail path of historical, filtered historical and Monte Carlo
    simulation; the quantile rule is in `redfire.risk.quantile`.
    """
    pnl = scenario_pnl(scenarios, exposures)
    var, es = tail_var_es(pnl, confidence, horizon)
    return VaRResult(
        var=var,
        es=es,
        method=method,
        confidence=confidence,
        horizon=horizon,
        window=window,
        scenarios=int(pnl.size),
    )


def historical_var(
    returns: FloatArray, exposures: FloatArray, confidence: float, horizon: int = 1
) -> VaRResult:
    """Return historical-simulation VaR/ES: s = R·v, VaR = −(k-th smallest s)·√h.

    `returns` is T × n (most recent last), `exposures` the n market values.
    """
    window = int(returns.shape[0])
    return scenario_var(returns, exposures, confidence, horizon, VaRMethod.HISTORICAL, window)
