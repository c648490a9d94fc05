"""Firm-wide aggregation: the second stage of DESIGN §8, pure."""

from __future__ import annotations

import math
from collections.abc import Mapping


def merge_exposures(per_account: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Return the firm's exposure per symbol: the sum over accounts, symbols sorted.

    Long and short exposures in different accounts net out; a symbol that nets to zero is kept
    (with 0.0) so that a consumer sees it was held. Raise ValueError on a non-finite exposure.
    """
    totals: dict[str, list[float]] = {}
    for account, exposures in per_account.items():
        for symbol, exposure in exposures.items():
            if not math.isfinite(exposure):
                raise ValueError(f"exposure of {account}/{symbol} is not finite: {exposure!r}")
            totals.setdefault(symbol, []).append(exposure)
    return {symbol: math.fsum(totals[symbol]) for symbol in sorted(totals)}
