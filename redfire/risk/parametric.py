"""Parametric (variance–covariance) VaR and ES, normal and Student-t.

σ² = vᵀΣv, with P&L assumed zero-mean over short horizons (RiskMetrics).

Normal:     VaR = z·σ·√h,  ES = σ·φ(z)/(1−c)·√h,  z = Φ⁻¹(c).
Student-t:  the P&L is σ·√((ν−2)/ν)·T_ν, a t with ν degrees of freedom scaled so
            that its standard deviation is the portfolio σ (a raw t_ν has variance
            ν/(ν−2)). Then, with q = t_ν⁻¹(c) and f_ν the t density,
            VaR = σ·√((ν−2)/ν)·q·√h,
            ES  = σ·√((ν−2)/ν)·f_ν(q)/(1−c)·(ν+q²)/(ν−1)·√h.
Scaling to σ keeps the two distributions comparable: same variance, fatter tail.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from redfire.risk.measures import (
    Distribution,
    FloatArray,
    VaRMethod,
    VaRResult,
    check_confidence,
)
from redfire.risk.quantile import horizon_scale


def normal_multipliers(confidence: float) -> tuple[float, float]:
    """Return (VaR, ES) per unit σ of a zero-mean normal P&L: (z, φ(z)/(1−c))."""
    check_confidence(confidence)
    z = float(stats.norm.ppf(confidence))
    return z, float(stats.norm.pdf(z)) / (1.0 - confidence)


def student_t_multipliers(confidence: float, dof: float) -> tuple[float, float]:
    """Return (VaR, ES) per unit σ of a Student-t P&L scaled to standard deviation σ."""
    check_confidence(confidence)
    if dof <= 2.0:
        raise ValueError(f"Student-t dof must be > 2 to have a variance, got {dof!r}")
    scale = math.sqrt((dof - 2.0) / dof)
    q = float(stats.t.ppf(confidence, dof))
    es = float(stats.t.pdf(q, dof)) / (1.0 - confidence) * (dof + q * q) / (dof - 1.0)
    return scale * q, scale * es


def tail_multipliers(
    confidence: float, distribution: Distribution, dof: float = 5.0
) -> tuple[float, float]:
    """Return (VaR, ES) per unit σ for the named distribution."""
    if distribution is Distribution.STUDENT_T:
        return student_t_multipliers(confidence, dof)
    if distribution is Distribution.NORMAL:
        return normal_multipliers(confidence)
    raise ValueError(f"parametric VaR needs normal or student_t, got {distribution!r}")


def portfolio_sigma(cov: FloatArray, exposures: FloatArray) -> float:
    """Return σ = √(vᵀΣv), the standard deviation of the one-bar portfolio P&L."""
    variance = float(exposures @ cov @ exposures)
    # Round-off can leave a hedged book's variance a hair below zero.
    return math.sqrt(max(variance, 0.0))


def parametric_var(
    cov: FloatArray,
    exposures: FloatArray,
    confidence: float,
    horizon: int = 1,
    distribution: Distribution = Distribution.NORMAL,
    dof: float = 5.0,
    *,
    method: VaRMethod = VaRMethod.PARAMETRIC,
    window: int = 0,
) -> VaRResult:
    """Return parametric VaR/ES from a covariance matrix and market values.

    `method` records which estimator built `cov` (PARAMETRIC or EWMA); `window` the
    number of return observations behind it.
    """
    var_mult, es_mult = tail_multipliers(confidence, distribution, dof)
    sigma = portfolio_sigma(np.asarray(cov, dtype=np.float64), exposures)
    scale = horizon_scale(horizon)
    return VaRResult(
        var=var_mult * sigma * scale,
        es=es_mult * sigma * scale,
        method=method,
        confidence=confidence,
        horizon=horizon,
        window=window,
        distribution=distribution,
        scenarios=0,
    )
