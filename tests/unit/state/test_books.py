"""The VaR book cache: a fill moving a held position updates the cached book in place."""

from __future__ import annotations

import numpy as np
import pytest

from redfire.app import build_state
from redfire.risk.bars import ReturnWindow
from redfire.risk.positions import Position, to_decimal
from redfire.settings import Settings
from redfire.state.account import AccountAggregate
from redfire.state.books import CachedBook
from redfire.state.market import PriceMark
from redfire.state.memory import memory_tables
from redfire.state.records import PositionEntry
from redfire.state.worker import WorkerState

NOW = 1_700_000_000_000
PRICES = {"AAPL": 190.0, "MSFT": 410.0, "JPM": 150.0}


def state_with_windows() -> WorkerState:
    state = build_state(Settings(var_window=250), memory_tables())
    state.on_recovered(set(range(state.partitions)), set())
    rng = np.random.default_rng(7)
    for name, price in PRICES.items():
        returns = tuple(float(r) for r in rng.standard_t(4, size=250) * 0.012)
        state.market.mirror_window(
            name, ReturnWindow(250, returns, price, NOW - 86_400_000).to_dict()
        )
        state.market.prices[name] = PriceMark(price, NOW)
    return state


def hold(account: AccountAggregate, symbol: str, qty: float) -> None:
    position = Position(to_decimal(qty), to_decimal(PRICES[symbol]), to_decimal(0), to_decimal(0))
    account.set_position(symbol, PositionEntry(position))


def test_a_fill_in_a_held_symbol_moves_the_cached_book_as_a_rebuild_would() -> None:
    state = state_with_windows()
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    hold(account, "MSFT", -40)
    first = state.books.cached(account, NOW)
    hold(account, "AAPL", 350)  # a fill of 250 more
    moved = state.books.cached(account, NOW + 1)
    assert moved is first  # applied, not rebuilt
    account.drop_book()
    rebuilt = state.books.cached(account, NOW + 1)
    assert rebuilt is not first
    assert moved.book.exposure("AAPL") == pytest.approx(rebuilt.book.exposure("AAPL"))
    assert moved.book.var() == pytest.approx(rebuilt.book.var(), rel=1e-12)
    assert moved.book.es() == pytest.approx(rebuilt.book.es(), rel=1e-12)


def test_opening_or_closing_a_position_rebuilds_the_book() -> None:
    state = state_with_windows()
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    first = state.books.cached(account, NOW)
    hold(account, "JPM", 10)  # opens a position
    opened = state.books.cached(account, NOW + 1)
    assert opened is not first
    assert set(opened.book.exposures()) == {"AAPL", "JPM"}  # type: ignore[union-attr]
    hold(account, "AAPL", 0)  # closes one
    closed = state.books.cached(account, NOW + 2)
    assert closed is not opened
    assert set(closed.book.exposures()) == {"JPM"}  # type: ignore[union-attr]
    assert isinstance(closed, CachedBook)
