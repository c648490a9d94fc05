"""How much of each account-level limit an account uses now, as a fraction of the limit.

``limit_use`` compares an account's figures (the fields of a RiskSnapshot) with its
``Limits``: 1.0 means at the limit. Limits that are switched off, or that do not apply yet
(concentration below ``concentration_min_gross``, VaR without history, ratios to
non-positive equity), are left out. ``largest_use`` picks the one closest to its limit,
which is what an operator glances at first.
"""

from __future__ import annotations

from dataclasses import dataclass

from redfire.risk.limits import Limits
from redfire.risk.valuation import ratio_to_equity


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The account-level figures limits are compared with (RiskSnapshot field names)."""

    equity: float
    gross_exposure: float
    net_exposure: float
    largest_exposure: float
    concentration: float
    daily_pnl: float | None = None
    drawdown: float | None = None
    var_99: float | None = None


def limit_use(figures: AccountFigures, limits: Limits) -> dict[str, float]:
    """Return limit name → used fraction for every limit that applies to ``figures``."""
    uses: dict[str, float | None] = {
        "max_gross_exposure": _share(figures.gross_exposure, limits.max_gross_exposure),
        "max_net_exposure": _share(abs(figures.net_exposure), limits.max_net_exposure),
        "max_position_notional": _share(figures.largest_exposure, limits.max_position_notional),
        "max_drawdown": _share(figures.drawdown, limits.max_drawdown),
        "max_var": _share(figures.var_99, limits.max_var),
    }
    if figures.gross_exposure >= limits.concentration_min_gross:
        uses["max_concentration"] = _share(figures.concentration, limits.max_concentration)
    if figures.daily_pnl is not None:
        uses["max_daily_loss"] = _share(max(0.0, -figures.daily_pnl), limits.max_daily_loss)
    if limits.max_var_pct is not None:
        var_share = ratio_to_equity(figures.var_99, figures.equity)
        uses["max_var_pct"] = _share(var_share, limits.max_var_pct)
    return {name: use for name, use in uses.items() if use is not None}


def largest_use(figures: AccountFigures, limits: Limits) -> tuple[str, float] | None:
    """Return the limit closest to being reached and its used fraction, or None."""
    uses = limit_use(figures, limits)
    if not uses:
        return None
    name = max(uses, key=lambda key: uses[key])
    return name, uses[name]


def _share(value: float | None, limit: float | None) -> float | None:
    if value is None or limit is None or limit <= 0:
        return None
    return value / limit
