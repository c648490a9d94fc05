"""A CNY account holding US, HK and A-share names: equity, exposures and VaR in base currency
against an independent computation that revalues every holding in every scenario."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from redfire.risk.fx import Conversion, FxRates
from redfire.risk.fx_portfolio import (
    Holding,
    assemble_base_portfolio,
    base_return_window,
    cash_key,
    delta_value_in_base,
    value_in_base,
)
from redfire.risk.measures import IncrementalVaR, InsufficientHistory, VaRConfig, VaRMethod
from redfire.risk.portfolio import HistoryPolicy, Portfolio
from redfire.risk.var import build_book, compute_var

T0 = 1_700_000_000_000
T = 250
CONFIDENCE = 0.99
USDCNY, USDHKD = 7.1, 7.8
QTY = {"MSFT": 100.0, "0700.HK": 1_000.0, "600519.SH": 10.0}
PRICE = {"MSFT": 400.0, "0700.HK": 300.0, "600519.SH": 1_700.0, "AAPL": 190.0}
CURRENCY = {"MSFT": "USD", "0700.HK": "HKD", "600519.SH": "CNY", "AAPL": "USD"}
CASH = {"CNY": 1_000_000.0, "USD": 50_000.0, "HKD": -20_000.0}
POLICY = HistoryPolicy(window=T, min_window=20)


@pytest.fixture
def fx() -> FxRates:
    book = FxRates()
    book.on_tick("USDCNY", "USD", "CNY", USDCNY, T0)
    book.on_tick("USDHKD", "USD", "HKD", USDHKD, T0)  # HKD→CNY is a cross via USD
    return book


@pytest.fixture
def windows() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    # Heavy asset moves and a volatile rate, so that the cross term r_a·r_x is visible.
    scales = {"MSFT": 0.03, "0700.HK": 0.035, "600519.SH": 0.025, "AAPL": 0.03}
    drawn = {symbol: rng.standard_t(4, T) * scale for symbol, scale in scales.items()}
    drawn["USDCNY"] = rng.normal(0, 0.02, T)
    drawn["USDHKD"] = rng.normal(0, 0.004, T)
    return drawn


def holdings(qty: dict[str, float] | None = None) -> list[Holding]:
    return [Holding(s, q, PRICE[s], CURRENCY[s]) for s, q in (qty or QTY).items()]


def independent_pnl(qty: dict[str, float], windows: dict[str, np.ndarray]) -> np.ndarray:
    """Revalue every holding and cash balance in CNY in every scenario, from first principles."""
    usdcny = USDCNY * (1 + windows["USDCNY"])
    hkdcny = USDCNY * (1 + windows["USDCNY"]) / (USDHKD * (1 + windows["USDHKD"]))
    rate_now = {"CNY": 1.0, "USD": USDCNY, "HKD": USDCNY / USDHKD}
    rate_then = {"CNY": np.ones(T), "USD": usdcny, "HKD": hkdcny}
    pnl = np.zeros(T)
    for symbol, q in qty.items():
        ccy = CURRENCY[symbol]
        now = q * PRICE[symbol] * rate_now[ccy]
        then = q * PRICE[symbol] * (1 + windows[symbol]) * rate_then[ccy]
        pnl += then - now
    for ccy, amount in CASH.items():
        pnl += amount * rate_then[ccy] - amount * rate_now[ccy]
    return pnl


def tail(pnl: np.ndarray) -> tuple[float, float]:
    """VaR and ES by the documented rule: k = ceil(T(1−c)); minus the k-th worst, minus the mean."""
    k = max(1, math.ceil(round(len(pnl) * (1 - CONFIDENCE), 9)))
    worst = np.sort(pnl)[:k]
    return float(-worst[-1]), float(-worst.mean())


def test_equity_and_exposures_in_base_currency(fx: FxRates) -> None:
    valuation = value_in_base(CASH, holdings(), "CNY", fx)

    hkdcny = USDCNY / USDHKD
    msft, tencent, moutai = 100 * 400 * USDCNY, 1_000 * 300 * hkdcny, 10 * 1_700.0
    cash = 1_000_000 + 50_000 * USDCNY - 20_000 * hkdcny
    assert valuation.complete
    assert valuation.exposures == pytest.approx(
        {"MSFT": msft, "0700.HK": tencent, "600519.SH": moutai}, rel=1e-12
    )
    assert valuation.cash == pytest.approx(cash, rel=1e-12)
    assert valuation.equity == pytest.approx(cash + msft + tencent + moutai, rel=1e-12)
    assert valuation.gross == pytest.approx(msft + tencent + moutai, rel=1e-12)
    assert valuation.currency_exposure == pytest.approx(
        {"USD": msft + 50_000 * USDCNY, "HKD": tencent - 20_000 * hkdcny}, rel=1e-12
    )


def test_a_holding_without_a_rate_is_left_out_and_reported(fx: FxRates) -> None:
    positions = [*holdings(), Holding("7203.T", 100.0, 2_500.0, "JPY")]

    valuation = value_in_base({**CASH, "EUR": 10.0}, positions, "CNY", fx)

    assert not valuation.complete
    assert [m.source for m in valuation.missing_rates] == ["EUR", "JPY"]
    assert valuation.unconverted == ("7203.T", cash_key("EUR"))
    assert "7203.T" not in valuation.exposures
    portfolio = assemble_base_portfolio(valuation, CURRENCY, {}, POLICY)
    assert isinstance(portfolio, InsufficientHistory)
    assert portfolio.unpriced == ("7203.T", cash_key("EUR"))


def base_portfolio(fx: FxRates, windows: dict[str, np.ndarray]) -> Portfolio:
    valuation = value_in_base(CASH, holdings(), "CNY", fx)
    portfolio = assemble_base_portfolio(valuation, CURRENCY, windows, POLICY)
    assert isinstance(portfolio, Portfolio)
    return portfolio


def test_scenario_pnl_with_fx_returns_equals_the_revaluation(
    fx: FxRates, windows: dict[str, np.ndarray]
) -> None:
    portfolio = base_portfolio(fx, windows)

    pnl = portfolio.returns @ portfolio.exposures
    expected = independent_pnl(QTY, windows)

    assert set(portfolio.symbols) == {*QTY, cash_key("USD"), cash_key("HKD")}
    np.testing.assert_allclose(pnl, expected, rtol=1e-10, atol=1e-6)
    # The linear form v·(r_a + r_x) would miss v·r_a·r_x: visible on the MSFT position alone.
    msft = portfolio.exposures[portfolio.symbols.index("MSFT")]
    cross_term = msft * windows["MSFT"] * windows["USDCNY"]
    assert np.max(np.abs(cross_term)) > 1_000.0
    np.testing.assert_allclose(
        portfolio.returns[:, portfolio.symbols.index("MSFT")] * msft,
        msft * (windows["MSFT"] + windows["USDCNY"]) + cross_term,
        rtol=1e-10,
        atol=1e-6,
    )


def test_var_and_es_in_base_currency_equal_the_independent_figures(
    fx: FxRates, windows: dict[str, np.ndarray]
) -> None:
    portfolio = base_portfolio(fx, windows)
    config = VaRConfig(confidence=CONFIDENCE)

    result = compute_var(portfolio.returns, portfolio.exposures, config)
    book = build_book(portfolio.symbols, portfolio.exposures, portfolio.returns, config)

    var, es = tail(independent_pnl(QTY, windows))
    assert result.var == pytest.approx(var, rel=1e-9)
    assert result.es == pytest.approx(es, rel=1e-9)
    assert book.var() == pytest.approx(var, rel=1e-9)
    assert book.components().var == pytest.approx(var, rel=1e-9)


@pytest.mark.parametrize(("symbol", "qty"), [("MSFT", 50.0), ("MSFT", -150.0), ("AAPL", 300.0)])
def test_incremental_var_of_a_foreign_order_is_exact(
    fx: FxRates, windows: dict[str, np.ndarray], symbol: str, qty: float
) -> None:
    portfolio = base_portfolio(fx, windows)
    book = build_book(
        portfolio.symbols, portfolio.exposures, portfolio.returns, VaRConfig(confidence=CONFIDENCE)
    )
    usd = fx.convert("USD", "CNY")
    assert isinstance(usd, Conversion)
    window = None if symbol in book.symbols else base_return_window(symbol, usd, windows, POLICY)[0]

    answer = book.incremental(symbol, delta_value_in_base(qty, PRICE[symbol], usd), window)

    after = dict(QTY)
    after[symbol] = after.get(symbol, 0.0) + qty
    assert isinstance(answer, IncrementalVaR)
    assert answer.var_after == pytest.approx(tail(independent_pnl(after, windows))[0], rel=1e-9)


def test_a_rate_without_history_is_reported_not_ignored(fx: FxRates) -> None:
    rng = np.random.default_rng(5)
    windows = {s: rng.normal(0, 0.01, T) for s in [*QTY, "USDCNY"]}  # no USDHKD window

    valuation = value_in_base(CASH, holdings(), "CNY", fx)
    portfolio = assemble_base_portfolio(valuation, CURRENCY, windows, POLICY)

    assert isinstance(portfolio, InsufficientHistory)
    assert portfolio.symbols == ("0700.HK", cash_key("HKD"))


def test_base_currency_holdings_keep_their_plain_returns(
    fx: FxRates, windows: dict[str, np.ndarray]
) -> None:
    cny = fx.convert("CNY", "CNY")
    assert isinstance(cny, Conversion)

    window, proxy = base_return_window("600519.SH", cny, windows, POLICY)

    assert proxy is None
    np.testing.assert_array_equal(window, windows["600519.SH"])
    assert base_return_window(None, cny, windows, POLICY) == (None, None)


def test_parametric_var_carries_the_fx_risk_too(
    fx: FxRates, windows: dict[str, np.ndarray]
) -> None:
    portfolio = base_portfolio(fx, windows)
    config = VaRConfig(method=VaRMethod.PARAMETRIC, confidence=CONFIDENCE)

    result = compute_var(portfolio.returns, portfolio.exposures, config)

    sigma = np.std(independent_pnl(QTY, windows), ddof=1)  # the sample covariance's convention
    assert result.var == pytest.approx(norm.ppf(CONFIDENCE) * sigma, rel=1e-9)
