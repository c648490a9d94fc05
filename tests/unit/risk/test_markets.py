"""Market conventions: venue from symbol, lots, ticks and A-share daily limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redfire.risk.markets import (
    TICK_TABLES,
    Market,
    TickRule,
    board_lot,
    daily_limit_band,
    daily_limit_pct,
    hk_tick_size,
    is_multiple,
    lot_ok,
    market_of,
    on_tick,
    symbol_code,
    tick_size,
)


@pytest.mark.parametrize(
    ("symbol", "market"),
    [
        ("600000.SH", Market.XSHG),
        ("600000.SS", Market.XSHG),
        ("600000.XSHG", Market.XSHG),
        ("600000.sh", Market.XSHG),
        ("000001.SZ", Market.XSHE),
        ("000001.XSHE", Market.XSHE),
        ("0700.HK", Market.XHKG),
        ("0700.XHKG", Market.XHKG),
        ("AAPL", Market.US),
        ("BRK.B", Market.US),
    ],
)
def test_market_comes_from_the_suffix(symbol: str, market: Market) -> None:
    assert market_of(symbol) is market


def test_explicit_mapping_wins_over_the_suffix() -> None:
    assert market_of("600000", {"600000": "XSHG"}) is Market.XSHG
    assert market_of("0700.HK", {"0700.HK": "US"}) is Market.US


def test_symbol_code_strips_only_venue_suffixes() -> None:
    assert symbol_code("600000.SH") == "600000"
    assert symbol_code("BRK.B") == "BRK.B"


@pytest.mark.parametrize(
    ("symbol", "market", "lot"),
    [
        ("600000.SH", Market.XSHG, 100),
        ("000001.SZ", Market.XSHE, 100),
        ("0700.HK", Market.XHKG, 100),
        ("0005.HK", Market.XHKG, 400),
        ("00941.HK", Market.XHKG, 500),
        ("0941.XHKG", Market.XHKG, 500),
        ("9999.HK", Market.XHKG, 100),
        ("AAPL", Market.US, 1),
    ],
)
def test_board_lot(symbol: str, market: Market, lot: int) -> None:
    assert board_lot(symbol, market) == lot


def test_board_lot_table_is_overridable() -> None:
    assert board_lot("0388.HK", Market.XHKG, {"0388.HK": 200}) == 200
    assert board_lot("0005.HK", Market.XHKG, {}) == 100


@pytest.mark.parametrize(
    ("market", "side", "qty", "position", "ok"),
    [
        (Market.XSHG, "BUY", 100, 0, True),
        (Market.XSHG, "BUY", 1000, 0, True),
        (Market.XSHG, "BUY", 99, 0, False),
        (Market.XSHG, "SELL", 37, 137, True),
        (Market.XSHG, "SELL", 137, 137, True),
        (Market.XSHG, "SELL", 138, 137, False),
        (Market.XSHE, "SELL", 37, 0, False),
        (Market.XHKG, "SELL", 37, 137, False),
        (Market.US, "BUY", 7, 0, True),
        (Market.US, "BUY", 0.5, 0, False),
    ],
)
def test_lot_rules(market: Market, side: str, qty: float, position: float, ok: bool) -> None:
    lot = 100 if market is not Market.US else 1
    assert lot_ok(market, side, qty, position, lot) is ok


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (0.01, "0.001"),
        (0.25, "0.001"),
        (0.255, "0.005"),
        (0.5, "0.005"),
        (0.51, "0.01"),
        (10, "0.01"),
        (10.02, "0.02"),
        (20, "0.02"),
        (20.05, "0.05"),
        (100, "0.05"),
        (100.1, "0.1"),
        (200, "0.1"),
        (200.2, "0.2"),
        (500, "0.2"),
        (500.5, "0.5"),
        (1000, "0.5"),
        (1001, "1"),
        (2000, "1"),
        (2002, "2"),
        (5000, "2"),
        (5005, "5"),
    ],
)
def test_hkex_spread_table(price: float, tick: str) -> None:
    assert hk_tick_size(price) == Decimal(tick)
    assert tick_size(Market.XHKG, price) == Decimal(tick)


@pytest.mark.parametrize(
    ("market", "symbol", "price", "tick"),
    [
        (Market.XSHG, "600000.SH", 10.0, "0.01"),
        (Market.XSHG, "510300.SH", 3.5, "0.001"),
        (Market.XSHE, "159915.SZ", 2.5, "0.001"),
        (Market.XSHE, "000001.SZ", 12.0, "0.01"),
        (Market.US, "AAPL", 1.0, "0.01"),
        (Market.US, "PENNY", 0.99, "0.0001"),
    ],
)
def test_tick_sizes(market: Market, symbol: str, price: float, tick: str) -> None:
    assert tick_size(market, price, symbol) == Decimal(tick)


@pytest.mark.parametrize(
    ("price", "tick", "ok"),
    [
        (1.15, "0.05", True),  # 1.15 % 0.05 is not 0 in binary floating point
        (0.3, "0.1", True),
        (10.07, "0.01", True),
        (10.075, "0.01", False),
        (0.5123, "0.0001", True),
        (350.2, "0.2", True),
        (350.1, "0.2", False),
    ],
)
def test_price_multiples_are_exact_in_decimal(price: float, tick: str, ok: bool) -> None:
    assert on_tick(price, Decimal(tick)) is ok


@settings(max_examples=3000, deadline=None)
@given(
    price=st.one_of(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.builds(round, st.floats(min_value=0, max_value=1e5), st.integers(0, 6)),
        st.sampled_from([0.1 + 0.2, 1e-7, 1e17, 123456789.015, 3e11 + 0.05, 0.25, 1.0]),
    ),
    tick=st.sampled_from(["0.01", "0.0001", "0.05", "0.010", "5", "0.25", "1E+1", "0.00001"]),
)
def test_on_tick_answers_as_the_decimal_test(price: float, tick: str) -> None:
    # on_tick skips the Decimal arithmetic; it must agree with it for every float price.
    assert on_tick(price, Decimal(tick)) is is_multiple(price, Decimal(tick))


@settings(max_examples=2000, deadline=None)
@given(
    price=st.one_of(
        st.floats(min_value=0, max_value=10_000, allow_nan=False),
        st.builds(round, st.floats(min_value=0, max_value=10_000), st.integers(0, 4)),
        st.sampled_from([0.25, 0.5, 1.0, 10.0, 0.9999, 1.0001, 0.2500001, 5000.0]),
    ),
    rule=st.sampled_from(list(TickRule)),
)
def test_float_tick_bands_match_the_decimal_bands(price: float, rule: TickRule) -> None:
    table = TICK_TABLES[rule]
    assert table.tick_for(price) == table.tick_for(Decimal(repr(price)))


def test_is_multiple_rejects_a_non_positive_step() -> None:
    with pytest.raises(ValueError, match="positive"):
        is_multiple(1.0, 0)


@pytest.mark.parametrize(
    ("symbol", "is_st", "pct"),
    [
        ("600000.SH", False, 0.10),
        ("600000.SH", True, 0.05),
        ("688981.SH", False, 0.20),
        ("688981.SH", True, 0.20),
        ("300750.SZ", False, 0.20),
        ("301001.SZ", False, 0.20),
        ("000001.SZ", False, 0.10),
    ],
)
def test_daily_limit_pct_by_board(symbol: str, is_st: bool, pct: float) -> None:
    assert daily_limit_pct(symbol, is_st, 0.10, 0.20, 0.05) == pct


def test_daily_limit_band_rounds_half_up_to_the_tick() -> None:
    assert daily_limit_band(10.05, 0.10, Decimal("0.01")) == (Decimal("9.05"), Decimal("11.06"))
    assert daily_limit_band(10.0, 0.10, Decimal("0.01")) == (Decimal("9.00"), Decimal("11.00"))
    assert daily_limit_band(3.333, 0.10, Decimal("0.001")) == (
        Decimal("3.000"),
        Decimal("3.666"),
    )
