"""A mixed-currency account in its base currency: equity, exposures and the VaR inputs.

Valuation (``value_in_base``): every cash balance and every position's market value is converted
into the account's base currency at the rate of the moment (``FxRates``). A holding whose
currency cannot be converted is left out of the totals and listed in ``missing_rates``: the
figures are then incomplete and say so, never summed at a silent 1.0.

VaR with FX risk, exact. A position worth v (base currency) in an asset priced in a foreign
currency, whose price returns r_a while the rate returns r_x over a bar, ends the bar worth
v·(1+r_a)(1+r_x), a scenario P&L of

    v·((1+r_a)(1+r_x) − 1)  =  v·(r_a + r_x + r_a·r_x).

RedFire uses this exact form, not the linear v·(r_a + r_x): the column of such a holding in the
scenario matrix is its *base-currency return* ``(1+r_a)(1+r_x) − 1`` (``base_return_window``), and
its exposure is v. The matrix R and vector v keep the shape the incremental books need
(``s = R·v``, one column per holding), so a pre-trade order of δv in the asset is still
``s + δv·R[:, i]``, O(T), and exact. Cash held in a foreign currency is a holding too: its
column is the rate's own return (key ``cash_key(currency)``). The cross term r_a·r_x matters
in the tail (−10% in the stock and −5% in the rate lose 14.5%, not 15%), costs nothing, and
keeps Euler components summing to the VaR. A holding in the base currency keeps its plain
asset returns.

Parametric engines read the same columns (Σ of base-currency returns), so they too carry the
FX risk and the asset-FX correlation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from redfire.risk.fx import Conversion, FxRates, MissingRate, compose_returns, conversion_returns
from redfire.risk.measures import FloatArray, InsufficientHistory
from redfire.risk.portfolio import (
    HistoryPolicy,
    Portfolio,
    assemble_portfolio,
    resolve_window,
    usable_window,
)

CASH_PREFIX = "CASH:"


def cash_key(currency: str) -> str:
    """Return the holding key of cash in ``currency`` (it never clashes with a symbol)."""
    return f"{CASH_PREFIX}{currency}"


@dataclass(frozen=True, slots=True)
class Holding:
    """One position: signed quantity, price (in its own currency, None if unknown), currency."""

    symbol: str
    qty: float
    price: float | None
    currency: str


@dataclass(frozen=True, slots=True)
class BaseValuation:
    """An account valued in its base currency.

    ``exposures``: base-currency market value per symbol; ``cash``: every balance converted
    and summed; ``currency_exposure``: per foreign currency, the base value of everything held
    in it (positions and cash), which is what the FX scenarios move. Holdings in
    ``missing_rates`` or ``unpriced`` are left out of every total.
    """

    base: str
    cash: float
    equity: float
    gross: float
    net: float
    exposures: Mapping[str, float]
    cash_by_currency: Mapping[str, float]
    currency_exposure: Mapping[str, float]
    conversions: Mapping[str, Conversion]
    missing_rates: tuple[MissingRate, ...] = ()
    unconverted: tuple[str, ...] = ()
    unpriced: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Tell whether every holding was priced and converted."""
        return not self.missing_rates and not self.unpriced


def value_in_base(
    cash: Mapping[str, float], holdings: Iterable[Holding], base: str, rates: FxRates
) -> BaseValuation:
    """Value cash per currency and positions in ``base`` at the rates of the moment."""
    conversions: dict[str, Conversion] = {}
    missing: dict[str, MissingRate] = {}

    def convert(currency: str) -> Conversion | None:
        if currency not in conversions and currency not in missing:
            found = rates.convert(currency, base)
            if isinstance(found, MissingRate):
                missing[currency] = found
            else:
                conversions[currency] = found
        return conversions.get(currency)

    exposures: dict[str, float] = {}
    by_currency: dict[str, float] = {}
    unpriced: list[str] = []
    unconverted: list[str] = []
    for holding in sorted(holdings, key=lambda h: h.symbol):
        if holding.qty == 0:
            continue
        if holding.price is None:
            unpriced.append(holding.symbol)
            continue
        conversion = convert(holding.currency)
        if conversion is None:
            unconverted.append(holding.symbol)
            continue
        value = holding.qty * holding.price * conversion.rate
        exposures[holding.symbol] = value
        if holding.currency != base:
            by_currency[holding.currency] = by_currency.get(holding.currency, 0.0) + value
    cash_base: dict[str, float] = {}
    for currency, amount in sorted(cash.items()):
        conversion = convert(currency)
        if conversion is None:
            unconverted.append(cash_key(currency))
            continue
        cash_base[currency] = amount * conversion.rate
        if currency != base:
            by_currency[currency] = by_currency.get(currency, 0.0) + cash_base[currency]
    net = sum(exposures.values())
    total_cash = sum(cash_base.values())
    return BaseValuation(
        base=base,
        cash=total_cash,
        equity=total_cash + net,
        gross=sum(abs(v) for v in exposures.values()),
        net=net,
        exposures=exposures,
        cash_by_currency=cash_base,
        currency_exposure=by_currency,
        conversions=conversions,
        missing_rates=tuple(missing[c] for c in sorted(missing)),
        unconverted=tuple(unconverted),
        unpriced=tuple(unpriced),
    )


def base_return_window(
    symbol: str | None,
    conversion: Conversion,
    windows: Mapping[str, FloatArray],
    policy: HistoryPolicy,
) -> tuple[FloatArray | None, str | None]:
    """Return (base-currency return window, proxy used) of one holding, or (None, None).

    ``symbol`` None is cash: its window is the conversion's own returns. An asset's window is
    its own (or its proxy's, as ``portfolio.resolve_window`` decides) composed with the
    conversion's: (1+r_a)(1+r_x) − 1, aligned on the common tail. The order path calls this
    for a symbol the book does not hold yet, so a candidate gets exactly the column a full
    assembly would give it.
    """
    fx = conversion_returns(conversion, windows)
    if isinstance(fx, tuple):
        return None, None
    fx_window = None if fx is None else usable_window(fx, policy)
    if fx is not None and fx_window is None:
        return None, None
    if symbol is None:
        return fx_window, None
    asset, proxy = resolve_window(symbol, windows, policy)
    if asset is None:
        return None, None
    if fx_window is None:
        return asset, proxy
    composed = compose_returns(asset, fx_window)
    return (composed if composed.size >= policy.min_window else None), proxy


def assemble_base_portfolio(
    valuation: BaseValuation,
    currencies: Mapping[str, str],
    windows: Mapping[str, FloatArray],
    policy: HistoryPolicy | None = None,
    include_cash: bool = True,
) -> Portfolio | InsufficientHistory:
    """Return the base-currency portfolio behind VaR: exposures v and columns R, FX included.

    One column per position (its base-currency returns) and, with ``include_cash``, one per
    foreign cash balance (the rate's returns, key ``cash_key``). Holdings without a rate are
    reported in ``InsufficientHistory.unpriced`` (they have no base-currency price); holdings
    short of history (asset or rate) in ``symbols``.
    """
    rules = policy or HistoryPolicy()
    if valuation.unconverted or valuation.unpriced:
        unvalued = tuple(sorted(valuation.unconverted + valuation.unpriced))
        return InsufficientHistory((), rules.min_window, {}, unvalued)
    exposures: dict[str, float] = {}
    columns: dict[str, FloatArray] = {}
    proxied: dict[str, str] = {}
    short: list[str] = []
    for key, value, symbol, currency in _holdings(valuation, currencies, include_cash):
        window, proxy = base_return_window(symbol, valuation.conversions[currency], windows, rules)
        if window is None:
            short.append(key)
            continue
        exposures[key], columns[key] = value, window
        if proxy is not None:
            proxied[key] = proxy
    if short:
        available = {key: _available(key, windows) for key in short}
        return InsufficientHistory(tuple(sorted(short)), rules.min_window, available)
    assembled = assemble_portfolio(exposures, columns, rules)
    if isinstance(assembled, InsufficientHistory):
        return assembled
    return Portfolio(assembled.symbols, assembled.exposures, assembled.returns, proxied)


def _holdings(
    valuation: BaseValuation, currencies: Mapping[str, str], include_cash: bool
) -> list[tuple[str, float, str | None, str]]:
    """Return (key, base value, symbol or None for cash, currency) of every VaR holding."""
    rows: list[tuple[str, float, str | None, str]] = [
        (symbol, value, symbol, currencies[symbol])
        for symbol, value in valuation.exposures.items()
        if value != 0.0
    ]
    if include_cash:
        rows += [
            (cash_key(currency), value, None, currency)
            for currency, value in valuation.cash_by_currency.items()
            if currency != valuation.base and value != 0.0
        ]
    return rows


def _available(key: str, windows: Mapping[str, FloatArray]) -> int:
    window = windows.get(key)
    return 0 if window is None else int(np.asarray(window).size)


def delta_value_in_base(signed_qty: float, price: float, conversion: Conversion) -> float:
    """Return the base-currency market value an order adds: signed qty × price × rate."""
    return signed_qty * price * conversion.rate
