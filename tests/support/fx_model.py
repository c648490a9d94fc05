"""An independent model of a mixed-currency account in its base currency (numpy only).

It imports nothing of ``redfire``: tests compare the engine's equity, exposures, VaR and ES
with what this computes from the same closes. A foreign position worth v (base currency)
earns v·((1 + r_asset)(1 + r_fx) − 1) per bar, foreign cash c earns c·r_fx, and VaR at
confidence c is minus the k-th worst scenario P&L with k = ⌈T·(1 − c)⌉ (ES: the mean of the
k worst), the rule RedFire documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MixedAccount:
    """A base-currency account: live prices, each symbol's currency, cash, the fills."""

    base: str
    live: dict[str, float]
    vol: dict[str, float]
    currency: dict[str, str]  # asset symbol → its currency
    pair: dict[str, str]  # foreign currency → the pair symbol quoting it in the base
    cash: dict[str, float]  # currency → amount, before the fills
    fills: tuple[tuple[str, float, float, float], ...]  # symbol, qty bought, price, fee
    days: int = 62
    seed: int = 15
    digits: dict[str, int] = field(default_factory=dict)

    def closes(self) -> dict[str, list[float]]:
        """Return ``days`` closes per symbol ending at its live price (one common factor)."""
        rng = np.random.default_rng(self.seed)
        factor = rng.standard_normal(self.days)
        paths = {}
        for symbol, live in self.live.items():
            shocks = 0.5 * factor + 0.85 * rng.standard_normal(self.days)
            path = np.cumprod(1.0 + self.vol[symbol] * shocks)
            path *= live / path[-1]
            digits = self.digits.get(symbol, 2)
            paths[symbol] = [round(float(p), digits) for p in path]
            paths[symbol][-1] = live
        return paths


def bar_returns(history: list[float]) -> np.ndarray:
    """Return what daily bars give: the returns of the closed bars (the last close is open)."""
    closed = np.array(history[:-1])
    result: np.ndarray = closed[1:] / closed[:-1] - 1.0
    return result


def tail_count(size: int, confidence: float) -> int:
    return max(1, math.ceil(round(size * (1 - confidence), 9)))


def independent(
    account: MixedAccount,
    history: dict[str, list[float]],
    extra: dict[str, float] | None = None,
    with_fx: bool = True,
) -> dict[str, Any]:
    """Return equity, cash, exposures, market values, VaR 95/99 and ES 97.5 (base currency).

    ``extra``: more shares bought at the live price (a candidate order, filled).
    """
    rate = {account.base: 1.0, **{c: account.live[p] for c, p in account.pair.items()}}
    cash = {c: 0.0 for c in rate} | dict(account.cash)
    qty: dict[str, float] = {}
    for symbol, bought, price, fee in account.fills:
        qty[symbol] = qty.get(symbol, 0.0) + bought
        cash[account.currency[symbol]] -= bought * price + fee
    for symbol, more in (extra or {}).items():
        qty[symbol] = qty.get(symbol, 0.0) + more
        cash[account.currency[symbol]] -= more * account.live[symbol]
    value = {s: q * account.live[s] * rate[account.currency[s]] for s, q in qty.items()}
    cash_base = {c: amount * rate[c] for c, amount in cash.items()}
    fx = {
        c: (bar_returns(history[p]) if with_fx else np.zeros(account.days - 2))
        for c, p in account.pair.items()
    }
    fx[account.base] = np.zeros(account.days - 2)
    pnl = np.zeros(account.days - 2)
    for symbol, v in value.items():
        currency = account.currency[symbol]
        pnl += v * ((1 + bar_returns(history[symbol])) * (1 + fx[currency]) - 1)
    for currency, c in cash_base.items():
        pnl += c * fx[currency]
    tail = np.sort(pnl)
    return {
        "equity": sum(cash_base.values()) + sum(value.values()),
        "cash": sum(cash_base.values()),
        "cash_by_currency": {c: a for c, a in cash.items() if a or c == account.base},
        "gross_exposure": sum(abs(v) for v in value.values()),
        "net_exposure": sum(value.values()),
        "market_values": value,
        "var_95": -float(tail[tail_count(tail.size, 0.95) - 1]),
        "var_99": -float(tail[tail_count(tail.size, 0.99) - 1]),
        "es_975": -float(tail[: tail_count(tail.size, 0.975)].mean()),
    }


# The account the engine tests and the demo-like integration test hold: CNY base, MSFT
# bought with USD cash (partly borrowed), 0700.HK bought on an HKD overdraft.
CNY_ACCOUNT = MixedAccount(
    base="CNY",
    live={"MSFT": 410.0, "0700.HK": 310.0, "USDCNY": 7.2, "HKDCNY": 0.92},
    vol={"MSFT": 0.02, "0700.HK": 0.025, "USDCNY": 0.004, "HKDCNY": 0.004},
    currency={"MSFT": "USD", "0700.HK": "HKD"},
    pair={"USD": "USDCNY", "HKD": "HKDCNY"},
    cash={"CNY": 1_000_000.0, "USD": 20_000.0},
    fills=(("MSFT", 100, 400.0, 5.0), ("0700.HK", 1000, 300.0, 20.0)),
    digits={"USDCNY": 4, "HKDCNY": 4},
)
