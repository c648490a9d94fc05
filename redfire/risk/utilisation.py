"""How much of each limit an account uses now: the ``limits`` of GET /accounts/{a}/risk.

Pure: the account's current figures in (``Usage``), one row per numeric limit that is
switched on and has a meaningful current value out::

    {"name": "max_gross_exposure", "value": 19000.0, "limit": 20000000.0,
     "utilisation": 0.00095}

Per-symbol limits (``max_position_qty``, ``max_position_notional``) give one row per
symbol held, named ``limit:SYMBOL`` and carrying ``symbol``. Per-order limits (order
size, price collar, tick, lot, daily price limit) have no current value and are left
out. ``utilisation`` is value / limit (1.0 = at the limit); None where the limit is 0
and the value is not.

The values are the ones the pre-trade checks compare (``redfire.risk.checks``):
``|net|``, loss = −daily PnL, the drawdown fraction, VaR at the configured confidence
and VaR / equity, counts of live orders and of orders and cancels in their rate windows.
``max_concentration`` is listed only while in force, i.e. from a gross exposure of
``concentration_min_gross`` up (as the check). ``buying_power`` is what open orders hold:
value reserved × max_leverage, limit cash × max_leverage (utilisation reserved / cash).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redfire.risk.limits import Limits


@dataclass(frozen=True, slots=True)
class HeldSymbol:
    """One open position: signed quantity and market value."""

    qty: float
    market_value: float


@dataclass(frozen=True, slots=True)
class Usage:
    """An account's figures now, as the pre-trade checks see them."""

    gross_exposure: float
    net_exposure: float
    equity: float
    cash: float
    reserved: float
    daily_pnl: float | None = None
    drawdown: float | None = None
    var: float | None = None
    active_orders: int = 0
    recent_orders: int = 0
    recent_cancels: int = 0
    positions: Mapping[str, HeldSymbol] = field(default_factory=dict)


def utilisation(value: float, limit: float) -> float | None:
    """Return value / limit; 0.0 for nothing against a zero limit, None for something."""
    if limit > 0:
        return value / limit
    return 0.0 if value <= 0 else None


def limit_usage(limits: Limits, usage: Usage) -> list[dict[str, Any]]:
    """Return one row per limit in force with a current value, in a stable order."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float | None, symbol: str | None = None) -> None:
        if value is None or limit is None:
            return
        row: dict[str, Any] = {
            "name": name if symbol is None else f"{name}:{symbol}",
            "value": value,
            "limit": float(limit),
            "utilisation": utilisation(value, float(limit)),
        }
        if symbol is not None:
            row["symbol"] = symbol
        rows.append(row)

    gross = usage.gross_exposure
    add("max_gross_exposure", gross, limits.max_gross_exposure)
    add("max_net_exposure", abs(usage.net_exposure), limits.max_net_exposure)
    if gross > 0 and gross >= limits.concentration_min_gross:
        values = [abs(p.market_value) for p in usage.positions.values()]
        add("max_concentration", max(values, default=0.0) / gross, limits.max_concentration)
    for symbol in sorted(usage.positions):
        held = usage.positions[symbol]
        cap = limits.max_position_qty_by_symbol.get(symbol, limits.max_position_qty)
        add("max_position_qty", abs(held.qty), cap, symbol)
        add("max_position_notional", abs(held.market_value), limits.max_position_notional, symbol)
    if usage.daily_pnl is not None:
        add("max_daily_loss", max(0.0, -usage.daily_pnl), limits.max_daily_loss)
    add("max_drawdown", usage.drawdown, limits.max_drawdown)
    add("max_var", usage.var, limits.max_var)
    if usage.var is not None and usage.equity > 0:
        add("max_var_pct", usage.var / usage.equity, limits.max_var_pct)
    add("max_active_orders", float(usage.active_orders), limits.max_active_orders)
    add("max_orders_per_window", float(usage.recent_orders), limits.max_orders_per_window)
    add("max_cancels_per_window", float(usage.recent_cancels), limits.max_cancels_per_window)
    if usage.cash > 0:
        leverage = limits.max_leverage
        add("buying_power", usage.reserved * leverage, usage.cash * leverage)
    return rows


def largest_use(limits: Limits, usage: Usage) -> tuple[str, float] | None:
    """Return the limit closest to being reached and its used fraction, or None."""
    rows = [r for r in limit_usage(limits, usage) if r["utilisation"] is not None]
    if not rows:
        return None
    top = max(rows, key=lambda row: row["utilisation"])
    return str(top["name"]), float(top["utilisation"])
