"""Estimate return covariances: equal-weight (sample) and EWMA (RiskMetrics).

Both are written as one weighted cross-product, Σ = Xᵀ diag(w) X with X the
(optionally demeaned) returns, so that a new symbol's covariance with a whole
portfolio is one O(T) dot product against the portfolio's scenario P&L — which is
how the parametric book prices an order in a symbol it does not yet hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redfire.risk.measures import CovarianceKind, FloatArray

RISKMETRICS_LAMBDA = 0.94


@dataclass(frozen=True, slots=True, eq=False)
class CovarianceWeights:
    """Hold per-observation weights and whether returns are demeaned first.

    Equal weight: w_t = 1/(T−1) with demeaning (the unbiased sample covariance,
    identical to numpy.cov). EWMA: w_t ∝ λ^(T−1−t), the most recent observation
    (last row) weighted most, normalised to sum to one over the finite window, and
    no demeaning (RiskMetrics assumes zero-mean daily returns).
    """

    weights: FloatArray
    demean: bool

    def prepare(self, returns: FloatArray) -> FloatArray:
        """Return the returns as they enter the cross-product (demeaned or not)."""
        if self.demean:
            centred: FloatArray = returns - returns.mean(axis=0)
            return centred
        return returns


def equal_weights(observations: int) -> CovarianceWeights:
    """Return the weights of the unbiased sample covariance over T observations."""
    if observations < 2:
        raise ValueError("a sample covariance needs at least 2 observations")
    return CovarianceWeights(np.full(observations, 1.0 / (observations - 1)), demean=True)


def ewma_weights(observations: int, lam: float = RISKMETRICS_LAMBDA) -> CovarianceWeights:
    """Return EWMA weights (1−λ)λ^j, j bars back from the latest, normalised to sum 1.

    Normalising removes the λ^T of mass the infinite RiskMetrics recursion would
    leave on its seed value, so a short window is not biased low.
    """
    if observations < 1:
        raise ValueError("an EWMA covariance needs at least 1 observation")
    if not 0.0 < lam < 1.0:
        raise ValueError(f"EWMA lambda must lie in (0, 1), got {lam!r}")
    lags = np.arange(observations - 1, -1, -1, dtype=np.float64)
    raw = (1.0 - lam) * lam**lags
    return CovarianceWeights(raw / raw.sum(), demean=False)


def covariance_weights(
    kind: CovarianceKind, observations: int, lam: float = RISKMETRICS_LAMBDA
) -> CovarianceWeights:
    """Return the weights of the named estimator."""
    if kind is CovarianceKind.EWMA:
        return ewma_weights(observations, lam)
    return equal_weights(observations)


def weighted_covariance(returns: FloatArray, weights: CovarianceWeights) -> FloatArray:
    """Return Σ = Xᵀ diag(w) X for returns X (T × n, most recent last)."""
    prepared = weights.prepare(returns)
    cov: FloatArray = (prepared * weights.weights[:, None]).T @ prepared
    # Symmetrise: the product is symmetric in exact arithmetic only.
    return 0.5 * (cov + cov.T)


def equal_weight_covariance(returns: FloatArray) -> FloatArray:
    """Return the unbiased sample covariance of the return columns."""
    return weighted_covariance(returns, equal_weights(returns.shape[0]))


def ewma_covariance(returns: FloatArray, lam: float = RISKMETRICS_LAMBDA) -> FloatArray:
    """Return the RiskMetrics EWMA covariance of the return columns (λ = 0.94 by default)."""
    return weighted_covariance(returns, ewma_weights(returns.shape[0], lam))


def estimate_covariance(
    returns: FloatArray, kind: CovarianceKind, lam: float = RISKMETRICS_LAMBDA
) -> FloatArray:
    """Return the covariance of the named estimator."""
    return weighted_covariance(returns, covariance_weights(kind, returns.shape[0], lam))
