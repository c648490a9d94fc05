"""Portfolio assembly: exposures from positions, common-tail alignment, short history."""

from __future__ import annotations

import numpy as np
import pytest

from redfire.risk.measures import InsufficientHistory, VaRConfig, VaRResult
from redfire.risk.portfolio import (
    HistoryPolicy,
    Portfolio,
    assemble_from_positions,
    assemble_portfolio,
    resolve_window,
)
from redfire.risk.var import portfolio_book, portfolio_var

POLICY = HistoryPolicy(window=250, min_window=60)


def _window(length: int, seed: int) -> np.ndarray:
    """Return a window of `length` bar returns."""
    return np.random.default_rng(seed).normal(0, 0.01, length)


def _assembled(result: Portfolio | InsufficientHistory) -> Portfolio:
    assert isinstance(result, Portfolio), result
    return result


def test_exposures_are_quantity_times_price_and_flat_positions_drop_out() -> None:
    windows = {"AAA": _window(300, 1), "BBB": _window(300, 2), "CCC": _window(300, 3)}
    portfolio = _assembled(
        assemble_from_positions(
            {"AAA": 100, "BBB": -50, "CCC": 0},
            {"AAA": 12.5, "BBB": 40.0, "CCC": 9.0},
            windows,
            POLICY,
        )
    )
    assert portfolio.symbols == ("AAA", "BBB")
    assert portfolio.exposure_map() == {"AAA": 1250.0, "BBB": -2000.0}


def test_windows_of_different_length_align_on_their_common_tail() -> None:
    windows = {"AAA": _window(400, 1), "BBB": _window(90, 2)}
    portfolio = _assembled(assemble_portfolio({"AAA": 1.0, "BBB": 2.0}, windows, POLICY))
    assert portfolio.window == 90
    assert np.array_equal(portfolio.returns[:, 0], windows["AAA"][-90:])
    assert np.array_equal(portfolio.returns[:, 1], windows["BBB"])


def test_window_is_capped_at_the_configured_length() -> None:
    windows = {"AAA": _window(400, 1)}
    portfolio = _assembled(assemble_portfolio({"AAA": 1.0}, windows, POLICY))
    assert portfolio.window == 250
    assert np.array_equal(portfolio.returns[:, 0], windows["AAA"][-250:])


def test_short_history_without_proxy_is_reported_not_zeroed() -> None:
    windows = {"AAA": _window(300, 1), "NEW": _window(10, 2)}
    result = assemble_portfolio({"AAA": 1.0, "NEW": 1.0, "NONE": 1.0}, windows, POLICY)
    assert result == InsufficientHistory(("NEW", "NONE"), 60, {"NEW": 10, "NONE": 0})
    assert "NEW=10" in result.message
    assert portfolio_var(result, VaRConfig()) is result
    assert portfolio_book(result, VaRConfig()) is result


def test_short_history_uses_the_configured_proxy() -> None:
    windows = {"AAA": _window(300, 1), "INDEX": _window(300, 2), "IPO": _window(5, 3)}
    policy = HistoryPolicy(window=250, min_window=60, proxies={"IPO": "INDEX"})
    portfolio = _assembled(assemble_portfolio({"AAA": 1.0, "IPO": 5.0}, windows, policy))
    assert portfolio.proxied == {"IPO": "INDEX"}
    assert np.array_equal(portfolio.returns[:, 1], windows["INDEX"][-250:])
    assert isinstance(portfolio_var(portfolio, VaRConfig()), VaRResult)


def test_default_proxy_serves_every_short_symbol() -> None:
    windows = {"INDEX": _window(300, 2)}
    policy = HistoryPolicy(window=100, min_window=60, default_proxy="INDEX")
    window, proxy = resolve_window("UNKNOWN", windows, policy)
    assert proxy == "INDEX"
    assert window is not None and np.array_equal(window, windows["INDEX"][-100:])


def test_proxy_without_history_itself_is_still_insufficient() -> None:
    policy = HistoryPolicy(window=250, min_window=60, proxies={"IPO": "INDEX"})
    windows = {"INDEX": _window(30, 1), "IPO": _window(5, 2)}
    result = assemble_portfolio({"IPO": 1.0}, windows, policy)
    assert isinstance(result, InsufficientHistory)
    assert result.symbols == ("IPO",)


def test_a_nan_bar_cuts_the_window_to_the_bars_after_it() -> None:
    window = _window(300, 1)
    window[-40] = np.nan
    assert resolve_window("AAA", {"AAA": window}, POLICY) == (None, None)
    window[-100] = np.nan
    window[-40] = 0.0
    usable, _ = resolve_window("AAA", {"AAA": window}, POLICY)
    assert usable is not None and usable.size == 99


def test_position_without_price_is_reported() -> None:
    result = assemble_from_positions({"AAA": 10}, {}, {"AAA": _window(300, 1)}, POLICY)
    assert isinstance(result, InsufficientHistory)
    assert result.unpriced == ("AAA",)
    assert "no price for: AAA" in result.message


def test_empty_book_has_full_window_and_zero_var() -> None:
    portfolio = _assembled(assemble_portfolio({}, {}, POLICY))
    assert portfolio.returns.shape == (250, 0)
    book = portfolio_book(portfolio, VaRConfig())
    assert not isinstance(book, InsufficientHistory)
    assert book.var() == 0.0


def test_policy_refuses_a_window_shorter_than_its_minimum() -> None:
    with pytest.raises(ValueError, match="min_window"):
        HistoryPolicy(window=10, min_window=20)
