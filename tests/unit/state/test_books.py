"""The VaR book cache: a fill moving a held position updates the cached book in place."""

from __future__ import annotations

import numpy as np
import pytest

from redfire.app import build_state
from redfire.risk.bars import ReturnWindow
from redfire.risk.measures import InsufficientHistory, VaRMethod
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


def state_with_windows(method: VaRMethod = VaRMethod.HISTORICAL) -> WorkerState:
    state = build_state(Settings(var_window=250, var_method=method), memory_tables())
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


@pytest.mark.parametrize(
    "method", [VaRMethod.HISTORICAL, VaRMethod.PARAMETRIC, VaRMethod.EWMA, VaRMethod.FHS]
)
def test_opening_a_position_adds_its_column_as_a_rebuild_would(method: VaRMethod) -> None:
    state = state_with_windows(method)
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    hold(account, "MSFT", -40)
    first = state.books.cached(account, NOW)
    hold(account, "JPM", 30)  # a fill opens a position
    opened = state.books.cached(account, NOW + 1)
    assert opened is first  # applied, not rebuilt
    account.drop_book()
    rebuilt = state.books.cached(account, NOW + 1)
    assert rebuilt is not first
    assert set(opened.book.symbols) == set(rebuilt.book.symbols) == {"AAPL", "MSFT", "JPM"}
    assert opened.book.exposure("JPM") == pytest.approx(rebuilt.book.exposure("JPM"))
    assert opened.book.var() == pytest.approx(rebuilt.book.var(), rel=1e-12)
    assert opened.book.es() == pytest.approx(rebuilt.book.es(), rel=1e-12)


def test_a_first_position_turns_the_empty_book_into_a_rebuilt_one() -> None:
    state = state_with_windows()
    account = state.account("ACC-001")
    empty = state.books.cached(account, NOW)
    hold(account, "AAPL", 100)
    opened = state.books.cached(account, NOW + 1)
    assert opened is empty
    account.drop_book()
    rebuilt = state.books.cached(account, NOW + 1)
    assert opened.book.var() == pytest.approx(rebuilt.book.var(), rel=1e-12)


def test_opening_without_a_usable_window_rebuilds() -> None:
    state = state_with_windows()
    state.market.prices["NEW"] = PriceMark(10.0, NOW)  # priced, but no history
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    first = state.books.cached(account, NOW)
    position = Position(to_decimal(5), to_decimal(10), to_decimal(0), to_decimal(0))
    account.set_position("NEW", PositionEntry(position))
    after = state.books.cached(account, NOW + 1)
    assert after is not first
    assert isinstance(after.book, InsufficientHistory)


def test_closing_a_position_rebuilds_the_book() -> None:
    state = state_with_windows()
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    hold(account, "JPM", 10)
    first = state.books.cached(account, NOW)
    hold(account, "AAPL", 0)  # closes one
    closed = state.books.cached(account, NOW + 2)
    assert closed is not first
    assert set(closed.book.exposures()) == {"JPM"}  # type: ignore[union-attr]
    assert isinstance(closed, CachedBook)


def test_a_book_serves_within_its_age_either_side_of_its_stamp() -> None:
    state = state_with_windows()
    account = state.account("ACC-001")
    hold(account, "AAPL", 100)
    max_age = state.books.max_age_ms
    built = state.books.cached(account, NOW)  # as the monitor does, at the wall clock

    assert state.books.cached(account, NOW - 3) is built  # an order sent just before
    assert state.books.cached(account, NOW + max_age) is built
    late = state.books.cached(account, NOW + max_age + 1)
    assert late is not built  # too old: re-marked
    replayed = state.books.cached(account, NOW - 2)  # an old order replayed after it
    assert replayed is not late  # stamped more than the age later: rebuilt
