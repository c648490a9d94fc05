"""Monte Carlo VaR with torch: correlated normal or Student-t scenarios from Σ = LLᵀ.

Scenario returns are Y = (Z·Lᵀ)·m, Z standard normal (scenarios × symbols), L the
Cholesky factor of the covariance, and m a per-scenario mixing factor: 1 for
normal innovations, √((ν−2)/W) with W ~ χ²_ν for Student-t (a multivariate t
scaled so its covariance is Σ, matching the parametric Student-t engine).
The P&L is the same s = Y·v as historical simulation and the VaR/ES come from
the same tail function (`redfire.risk.quantile`).

Determinism: one `torch.Generator` seeded per call, on the chosen device, and a
fixed chunking, so the same seed, covariance, device and chunk size give the
same scenarios. CPU and CUDA streams differ, so a seed reproduces per device.
Device: CUDA when present, else CPU. Precision: float64 on CPU; float32 on CUDA
by default (GPU throughput), float64 on request. P&L is reduced on the device,
chunk by chunk, so 100k × 1,000 scenarios never sit in memory at once.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg, stats

from redfire.risk.covariance import CovarianceWeights
from redfire.risk.measures import Distribution, FloatArray, VaRMethod, VaRResult
from redfire.risk.quantile import scenario_pnl, tail_var_es

DEFAULT_SCENARIOS = 10_000
DEFAULT_CHUNK = 10_000
# Jitter grows tenfold from this fraction of the mean variance until Cholesky succeeds.
_FIRST_JITTER = 1e-12
_LAST_JITTER = 1e-3
# torch.rand can return exactly 0, whose χ² quantile is 0 and would divide by zero.
_SMALLEST_UNIFORM = 1e-300


def select_device(device: str | None = None) -> torch.device:
    """Return the named device, or CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """Return float64 on CPU and float32 on a GPU."""
    return torch.float64 if device.type == "cpu" else torch.float32


@dataclass(frozen=True, slots=True, eq=False)
class CholeskyFactor:
    """Hold L with LLᵀ = Σ + jitter·I, and the jitter that made Σ factorable."""

    lower: FloatArray
    jitter: float


def cholesky_with_jitter(cov: FloatArray) -> CholeskyFactor:
    """Return the Cholesky factor of Σ, adding diagonal jitter when Σ is only PSD.

    A sample covariance over fewer bars than symbols is singular; a jitter of
    1e-12…1e-3 of the mean variance makes it factorable while changing the
    portfolio variance by at most that fraction.
    """
    matrix = torch.as_tensor(np.asarray(cov, dtype=np.float64))
    size = matrix.shape[0]
    lower, info = torch.linalg.cholesky_ex(matrix)
    if int(info) == 0:
        return CholeskyFactor(lower.numpy().copy(), 0.0)
    mean_variance = float(torch.diagonal(matrix).mean()) if size else 0.0
    if mean_variance <= 0.0 and not torch.any(matrix):
        # The zero matrix (no symbol ever moved) factors as L = 0.
        return CholeskyFactor(np.zeros((size, size)), 0.0)
    identity = torch.eye(size, dtype=matrix.dtype)
    # Variances so small that a relative jitter underflows to 0 would never grow: start
    # from the smallest normal float instead.
    tiny = float(np.finfo(np.float64).tiny)
    jitter = max(_FIRST_JITTER * abs(mean_variance), tiny)
    while jitter <= max(_LAST_JITTER * abs(mean_variance), tiny * 1e9):
        lower, info = torch.linalg.cholesky_ex(matrix + jitter * identity)
        if int(info) == 0:
            return CholeskyFactor(lower.numpy().copy(), jitter)
        jitter *= 10.0
    raise ValueError(
        "covariance matrix is not positive semi-definite even with jitter; "
        "check the return windows for NaN or inconsistent lengths"
    )


def _student_t_mixing(uniforms: torch.Tensor, dof: float, like: torch.Tensor) -> torch.Tensor:
    """Return the per-scenario scale √((ν−2)/W), W the χ²_ν quantile of the uniforms."""
    # torch has no seeded χ² sampler, so invert the CDF of seeded uniforms.
    u = np.clip(uniforms.cpu().numpy().astype(np.float64), _SMALLEST_UNIFORM, None)
    chi2 = stats.chi2.ppf(u, dof)
    scale = np.sqrt((dof - 2.0) / chi2)
    return torch.as_tensor(scale, dtype=like.dtype, device=like.device)


def scenario_chunks(
    factor: CholeskyFactor,
    scenarios: int,
    *,
    seed: int = 0,
    distribution: Distribution = Distribution.NORMAL,
    dof: float = 5.0,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (scenario returns, mixing factors) chunk by chunk, on the device.

    Every consumer draws through this generator with the same chunking, so the
    full scenario matrix and the chunk-wise P&L see identical numbers.
    """
    if distribution is Distribution.STUDENT_T and dof <= 2.0:
        raise ValueError(f"Student-t dof must be > 2 to have a variance, got {dof!r}")
    target = select_device(device)
    precision = dtype or default_dtype(target)
    generator = torch.Generator(device=target).manual_seed(seed)
    lower_t = torch.as_tensor(factor.lower, dtype=precision, device=target).T
    size = factor.lower.shape[0]
    for start in range(0, scenarios, chunk):
        rows = min(chunk, scenarios - start)
        normals = torch.randn(rows, size, generator=generator, dtype=precision, device=target)
        if distribution is Distribution.STUDENT_T:
            uniforms = torch.rand(rows, generator=generator, dtype=precision, device=target)
            mixing = _student_t_mixing(uniforms, dof, normals)
            yield (normals @ lower_t) * mixing[:, None], mixing
        else:
            mixing = torch.ones(rows, dtype=precision, device=target)
            yield normals @ lower_t, mixing


def montecarlo_pnl(
    cov: FloatArray,
    exposures: FloatArray,
    scenarios: int = DEFAULT_SCENARIOS,
    *,
    seed: int = 0,
    distribution: Distribution = Distribution.NORMAL,
    dof: float = 5.0,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> FloatArray:
    """Return the simulated one-bar P&L of each scenario (float64, on the host)."""
    factor = cholesky_with_jitter(cov)
    pieces: list[FloatArray] = []
    weights: torch.Tensor | None = None
    for returns, _ in scenario_chunks(
        factor,
        scenarios,
        seed=seed,
        distribution=distribution,
        dof=dof,
        device=device,
        dtype=dtype,
        chunk=chunk,
    ):
        if weights is None:
            weights = torch.as_tensor(exposures, dtype=returns.dtype, device=returns.device)
        pieces.append(scenario_pnl(returns, weights).cpu().numpy().astype(np.float64))
    return np.concatenate(pieces) if pieces else np.zeros(0)


@dataclass(frozen=True, slots=True, eq=False)
class MonteCarloScenarios:
    """Hold a full simulated scenario matrix, its mixing factors and Cholesky factor."""

    returns: FloatArray
    mixing: FloatArray
    factor: CholeskyFactor


def montecarlo_scenarios(
    cov: FloatArray,
    scenarios: int = DEFAULT_SCENARIOS,
    *,
    seed: int = 0,
    distribution: Distribution = Distribution.NORMAL,
    dof: float = 5.0,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> MonteCarloScenarios:
    """Return the scenarios × symbols return matrix on the host, for a scenario book."""
    factor = cholesky_with_jitter(cov)
    returns: list[FloatArray] = []
    mixing: list[FloatArray] = []
    for chunk_returns, chunk_mixing in scenario_chunks(
        factor,
        scenarios,
        seed=seed,
        distribution=distribution,
        dof=dof,
        device=device,
        dtype=dtype,
        chunk=chunk,
    ):
        returns.append(chunk_returns.cpu().numpy().astype(np.float64))
        mixing.append(chunk_mixing.cpu().numpy().astype(np.float64))
    return MonteCarloScenarios(np.concatenate(returns), np.concatenate(mixing), factor)


def montecarlo_var(
    cov: FloatArray,
    exposures: FloatArray,
    confidence: float,
    horizon: int = 1,
    scenarios: int = DEFAULT_SCENARIOS,
    *,
    seed: int = 0,
    distribution: Distribution = Distribution.NORMAL,
    dof: float = 5.0,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    chunk: int = DEFAULT_CHUNK,
    window: int = 0,
) -> VaRResult:
    """Return Monte Carlo VaR/ES of market values under covariance Σ.

    `window` records the number of return observations behind Σ.
    """
    pnl = montecarlo_pnl(
        cov,
        exposures,
        scenarios,
        seed=seed,
        distribution=distribution,
        dof=dof,
        device=device,
        dtype=dtype,
        chunk=chunk,
    )
    var, es = tail_var_es(pnl, confidence, horizon)
    return VaRResult(
        var=var,
        es=es,
        method=VaRMethod.MONTECARLO,
        confidence=confidence,
        horizon=horizon,
        window=window,
        distribution=distribution,
        scenarios=scenarios,
    )


def symbol_innovations(seed: int, symbol: str, scenarios: int) -> FloatArray:
    """Return the fixed N(0,1) draws a new symbol brings into an existing scenario set.

    Seeded from (seed, symbol) so that pricing an order twice, or pricing it and
    then committing it, sees the same numbers.
    """
    generator = np.random.default_rng([seed, zlib.crc32(symbol.encode("utf-8"))])
    return generator.standard_normal(scenarios)


def extend_factor(factor: CholeskyFactor, cross_cov: FloatArray, variance: float) -> FloatArray:
    """Return the new last row [l, d] of L when a symbol joins Σ.

    l solves L·l = Σ_{existing,new}; d = √(Σ_new,new + jitter − |l|²), clamped at 0
    for a symbol that is a combination of those held.
    """
    lower = factor.lower
    if lower.shape[0] == 0 or not np.any(np.diagonal(lower)):
        row = np.zeros(lower.shape[0])
    else:
        row = linalg.solve_triangular(lower, cross_cov, lower=True)
    diagonal = math.sqrt(max(variance + factor.jitter - float(row @ row), 0.0))
    return np.append(row, diagonal)


def new_symbol_scenarios(
    scenario_rows: FloatArray,
    mixing: FloatArray,
    factor: CholeskyFactor,
    new_row: FloatArray,
    innovations: FloatArray,
) -> FloatArray:
    """Return the scenario returns of a symbol joining an existing Monte Carlo book.

    `scenario_rows` is the existing symbols × scenarios matrix (Yᵀ). The new
    column is m·(Z·l + d·ε): Z·l is recovered as (Y·Σ⁻¹c)/m without keeping Z,
    since Y = m·Z·Lᵀ. Cost O(scenarios·n + n²).
    """
    lower = factor.lower
    row, diagonal = new_row[:-1], float(new_row[-1])
    if row.size and np.any(row):
        solved = linalg.solve_triangular(lower.T, row, lower=False)
        correlated: FloatArray = (solved @ scenario_rows) / mixing
    else:
        correlated = np.zeros(mixing.size)
    return mixing * (correlated + diagonal * innovations)


class MonteCarloColumns:
    """Extend a Monte Carlo scenario set with a symbol correlated to those held.

    The new symbol's covariance with the held ones comes from the same history
    and estimator as Σ; its Cholesky row extends L, and its own shock is a seeded
    draw per (seed, symbol). Cost O(T·n + n² + scenarios·n) per new symbol; a
    held symbol is O(scenarios) like any scenario book.
    """

    def __init__(
        self,
        history: FloatArray,
        weights: CovarianceWeights,
        factor: CholeskyFactor,
        mixing: FloatArray,
        seed: int,
    ) -> None:
        self._prepared = np.ascontiguousarray(weights.prepare(history).T)
        self._weights = weights
        self._factor = factor
        self._mixing = mixing
        self._seed = seed

    @property
    def required(self) -> int:
        """Return the history length behind Σ."""
        return int(self._weights.weights.size)

    def _new_row(self, window: FloatArray) -> FloatArray:
        """Return the Cholesky row the symbol would add to L."""
        tail = np.asarray(window[-self.required :], dtype=np.float64)
        prepared = self._weights.prepare(tail[:, np.newaxis])[:, 0]
        weighted = self._weights.weights * prepared
        cross_cov = self._prepared @ weighted
        return extend_factor(self._factor, cross_cov, float(weighted @ prepared))

    def scenario_column(self, symbol: str, window: FloatArray, rows: FloatArray) -> FloatArray:
        """Return the symbol's simulated returns, consistent with the held symbols."""
        innovations = symbol_innovations(self._seed, symbol, self._mixing.size)
        return new_symbol_scenarios(
            rows, self._mixing, self._factor, self._new_row(window), innovations
        )

    def commit(self, symbol: str, window: FloatArray) -> None:
        """Extend L and the history so a later new symbol correlates with this one too."""
        row = self._new_row(window)
        size = row.size
        lower = np.zeros((size, size))
        lower[:-1, :-1] = self._factor.lower
        lower[-1] = row
        self._factor = CholeskyFactor(lower, self._factor.jitter)
        tail = np.asarray(window[-self.required :], dtype=np.float64)
        prepared = self._weights.prepare(tail[:, np.newaxis])[:, 0]
        self._prepared = np.vstack([self._prepared, prepared[np.newaxis, :]])
