"""Turn scenario P&Ls into VaR and ES: the one tail rule every scenario engine shares.

Quantile rule. With T scenario P&Ls s and confidence c, let k = ceil(T·(1−c)),
at least 1. VaR is minus the k-th smallest P&L; ES is minus the mean of the k
smallest. Both scale by √h for a horizon of h bars.

Why this rule: it is the empirical (1−c)-quantile without interpolation, so VaR
is always the P&L of one scenario that can be named. That is what makes the
incremental update exact (the same scenario set, one column added) and the
Euler allocation exact (the components are the positions' P&Ls in that very
scenario). ES averages the same k scenarios, so ES ≥ VaR by construction.
Example: T=250 at 99% gives k=3 — VaR is the 3rd worst loss, ES the mean of the 3
worst; T=500 at 99% gives k=5.

Historical simulation, filtered historical simulation and Monte Carlo all call
`scenario_pnl` and `tail_var_es`; only the scenario matrix differs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np
import numpy.typing as npt

from redfire.risk.measures import FloatArray, check_confidence, check_horizon

if TYPE_CHECKING:
    import torch

IntArray = npt.NDArray[np.intp]


def tail_count(observations: int, confidence: float) -> int:
    """Return k, the number of scenarios in the (1−c) tail: ceil(T·(1−c)), at least 1."""
    check_confidence(confidence)
    if observations < 1:
        raise ValueError("the tail of an empty scenario set is undefined")
    # Round before ceil: 500·(1−0.99) is 5.000000000000004 in binary floating
    # point, and a bare ceil would make the tail 6 scenarios instead of 5.
    return max(1, math.ceil(round(observations * (1.0 - confidence), 9)))


def horizon_scale(horizon: int) -> float:
    """Return √h, the square-root-of-time factor for a horizon of h bars."""
    check_horizon(horizon)
    return math.sqrt(horizon)


@overload
def scenario_pnl(returns: FloatArray, exposures: FloatArray) -> FloatArray: ...


@overload
def scenario_pnl(returns: torch.Tensor, exposures: torch.Tensor) -> torch.Tensor: ...


def scenario_pnl(
    returns: FloatArray | torch.Tensor, exposures: FloatArray | torch.Tensor
) -> FloatArray | torch.Tensor:
    """Return the P&L of each scenario, s = R·v (R: scenarios × symbols, v: market values).

    Works on numpy arrays and on torch tensors, so Monte Carlo evaluates the same
    product on the device where its scenarios live.
    """
    return returns @ exposures


def partition_tail(work: FloatArray, k: int, scale: float = 1.0) -> tuple[float, float]:
    """Return (VaR, ES) from the k worst entries of `work`, reordering `work` in place.

    O(T): one introselect, no sort. The caller owns `work` and accepts that its
    order is destroyed; this is what lets the incremental path avoid a copy.
    """
    work.partition(k - 1)
    # 0.0 − x rather than −x, so a flat book reports 0.0, not −0.0.
    var = 0.0 - float(work[k - 1])
    # A Python sum over the k tail values is cheaper than ndarray.sum for small k.
    es = 0.0 - sum(work[:k].tolist()) / k
    return var * scale, es * scale


def tail_var_es(pnl: FloatArray, confidence: float, horizon: int = 1) -> tuple[float, float]:
    """Return (VaR, ES) of the scenario P&Ls by the module's quantile rule, scaled by √h."""
    work = np.array(pnl, dtype=np.float64, copy=True)
    return partition_tail(work, tail_count(work.size, confidence), horizon_scale(horizon))


def tail_scenarios(pnl: FloatArray, confidence: float) -> tuple[int, IntArray]:
    """Return the VaR scenario's index and the indices of the k worst scenarios.

    The VaR scenario is the k-th smallest P&L, the one whose loss `tail_var_es`
    reports, so an allocation over it reproduces the VaR exactly.
    """
    k = tail_count(pnl.size, confidence)
    order = np.argpartition(pnl, k - 1)
    return int(order[k - 1]), order[:k]
