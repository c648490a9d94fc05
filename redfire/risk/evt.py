"""A generalised Pareto (GPD) lower tail for standardised residuals (McNeil & Frey 2000).

McNeil, A. J. and Frey, R. (2000), "Estimation of tail-related risk measures for
heteroscedastic financial time series: an extreme value approach", Journal of
Empirical Finance 7, 271–300, §2.2–2.3: above a high threshold u the excess
losses y − u of the filtered residuals follow a GPD(ξ, β) (peaks over threshold),
so for a tail probability p < q = N_u/N the residual quantile is

    y_p = u + β/ξ·((p/q)^(−ξ) − 1)          (ξ ≠ 0; u − β·ln(p/q) at ξ = 0).

Here losses are y = −z, z the standardised residual r_t/σ_t. The tail is fitted
by maximum likelihood (scipy's `genpareto.fit`, location fixed at 0) to the
largest `tail_fraction` of the losses — McNeil & Frey use 100 of 1000.

How it enters the scenarios (`smooth_lower_tail`): filtered historical
simulation keeps one scenario per historical bar, and the book needs that
alignment across symbols, so the tail is not resampled; instead each scenario
whose loss is beyond u keeps its bar but its value is replaced by the GPD
quantile at its plotting position p_j = (j − ½)/n (j its rank among the n
scenarios, worst first). The bars stay the same, their order stays the same,
only the worst ones move onto the fitted curve.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from redfire.risk.measures import FloatArray

# Fewer exceedances than this and the two GPD parameters are guesswork.
MIN_EXCEEDANCES = 20


@dataclass(frozen=True, slots=True)
class GpdTail:
    """Hold a fitted lower tail: threshold u (a loss), shape ξ, scale β, q = N_u/N."""

    threshold: float
    shape: float
    scale: float
    tail_probability: float

    def loss_quantile(self, probability: FloatArray) -> FloatArray:
        """Return the loss y_p exceeded with probability p (p < q), by the GPD."""
        ratio = np.asarray(probability, dtype=np.float64) / self.tail_probability
        if abs(self.shape) < 1e-9:
            exponential: FloatArray = self.threshold - self.scale * np.log(ratio)
            return exponential
        quantile: FloatArray = self.threshold + self.scale / self.shape * (
            ratio ** (-self.shape) - 1.0
        )
        return quantile


def fit_lower_tail(residuals: FloatArray, tail_fraction: float) -> GpdTail | None:
    """Return the GPD fitted to the worst `tail_fraction` of the residuals, or None.

    None when there are too few exceedances, when the fit fails, or when ξ ≥ 1
    (a tail whose mean is infinite has no expected shortfall).
    """
    if not 0.0 < tail_fraction < 0.5:
        raise ValueError(f"tail_fraction must lie in (0, 0.5), got {tail_fraction!r}")
    losses = -np.asarray(residuals, dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    count = round(tail_fraction * losses.size)
    if count < MIN_EXCEEDANCES or count >= losses.size:
        return None
    ordered = np.sort(losses)[::-1]
    threshold = float(ordered[count])
    excesses = ordered[:count] - threshold
    if not np.any(excesses > 0.0):
        return None
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape, _, scale = stats.genpareto.fit(excesses, floc=0.0)
    if not (math.isfinite(shape) and math.isfinite(scale)) or scale <= 0.0 or shape >= 1.0:
        return None
    return GpdTail(threshold, float(shape), float(scale), count / losses.size)


def smooth_lower_tail(residuals: FloatArray, tail: GpdTail) -> FloatArray:
    """Return the residuals with every loss beyond u moved onto the GPD (module notes)."""
    values = np.array(residuals, dtype=np.float64, copy=True)
    losses = -values
    beyond = np.flatnonzero(losses > tail.threshold)
    if beyond.size == 0:
        return values
    worst_first = beyond[np.argsort(-losses[beyond], kind="stable")]
    positions = (np.arange(1, worst_first.size + 1) - 0.5) / values.size
    inside = positions < tail.tail_probability
    chosen = worst_first[inside]
    values[chosen] = -tail.loss_quantile(positions[inside])
    return values
