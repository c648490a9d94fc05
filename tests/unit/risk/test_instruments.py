"""The instrument master: building and refusing entries, the YAML file, the wire, the fallback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from redfire.config.instruments import example_instruments, instrument_book, load_instruments_file
from redfire.risk.instruments import (
    InstrumentBook,
    InstrumentError,
    InstrumentFileError,
    InstrumentSource,
    fallback_instrument,
    instrument_from_fields,
    parse_instruments_yaml,
    previous_close,
)
from redfire.risk.markets import Board, Market, TickRule, board_lot, market_of, tick_size
from redfire.schemas.codec import (
    INSTRUMENT,
    DecodeFailure,
    decode,
    encode_avro,
    encode_json,
    instrument_of,
    instrument_record,
)

EXAMPLE = Path(__file__).parents[3] / "redfire" / "config" / "instruments.example.yaml"


def build(symbol: str = "600519.SH", **fields: Any) -> Any:
    base: dict[str, Any] = {"market": "XSHG", "currency": "CNY"}
    base.update(fields)
    return instrument_from_fields(symbol, base)


# --- building -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "fields", "lot", "minimum", "board", "t_plus_one"),
    [
        ("600519.SH", {"market": "XSHG", "currency": "CNY"}, 100, None, Board.MAIN, True),
        ("300750.SZ", {"market": "XSHE", "currency": "CNY"}, 100, None, Board.CHINEXT, True),
        ("688981.SH", {"market": "XSHG", "currency": "CNY"}, 1, 200.0, Board.STAR, True),
        ("0700.HK", {"market": "XHKG", "currency": "HKD", "lot_size": 100}, 100, None, None, False),
        ("0005.HK", {"market": "XHKG", "currency": "HKD", "lot_size": 400}, 400, None, None, False),
        ("MSFT", {"market": "US", "currency": "USD"}, 1, None, None, False),
        (
            "513100.SH",
            {"market": "XSHG", "currency": "CNY", "t_plus_one": False},
            100,
            None,
            Board.MAIN,
            False,
        ),
    ],
)
def test_defaults_follow_the_market_and_board(
    symbol: str,
    fields: dict[str, Any],
    lot: int,
    minimum: float | None,
    board: Board | None,
    t_plus_one: bool,
) -> None:
    instrument = instrument_from_fields(symbol, fields)

    assert instrument.lot_size == lot
    assert instrument.min_order_qty == minimum
    assert instrument.board is board
    assert instrument.t_plus_one is t_plus_one
    assert instrument.tradable


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"market": "XSHG"}, "currency", "missing"),
        ({"market": "NASDAQ", "currency": "USD"}, "market", "not one of"),
        ({"market": "US", "currency": "usd"}, "currency", "3-letter"),
        ({"market": "XHKG", "currency": "HKD"}, "lot_size", "must give its board lot"),
        ({"market": "XHKG", "currency": "HKD", "lot_size": 0}, "lot_size", "whole number >= 1"),
        ({"market": "XHKG", "currency": "HKD", "lot_size": 2.5}, "lot_size", "whole number"),
        ({"market": "XHKG", "currency": "HKD", "lot_size": "100"}, "lot_size", "a number"),
        ({"market": "XSHG", "currency": "CNY", "previous_close": -1}, "previous_close", "> 0"),
        (
            {"market": "XSHG", "currency": "CNY", "previous_close": float("nan")},
            "previous_close",
            "finite",
        ),
        ({"market": "XSHG", "currency": "CNY", "daily_limit_pct": 10}, "daily_limit_pct", "0.05"),
        ({"market": "XSHG", "currency": "CNY", "is_st": "yes"}, "is_st", "true or false"),
        ({"market": "US", "currency": "USD", "is_st": True}, "is_st", "XSHG/XSHE only"),
        ({"market": "US", "currency": "USD", "board": "STAR"}, "board", "XSHG/XSHE only"),
        ({"market": "FX", "currency": "CNY"}, "fx_base", "needs fx_base"),
        ({"market": "US", "currency": "USD", "fx_base": "EUR"}, "fx_base", "only market FX"),
        ({"market": "FX", "currency": "CNY", "fx_base": "CNY"}, "fx_base", "must differ"),
        ({"market": "US", "currency": "USD", "tick": 0}, "tick", "> 0"),
        ({"market": "US", "currency": "USD", "tick": 0.01, "tick_rule": "US"}, "tick", "one of"),
        ({"market": "US", "currency": "USD", "tick_rule": "NYSE"}, "tick_rule", "not one of"),
        (
            {"market": "US", "currency": "USD", "tick_table": [{"up_to": 1, "tick": 0.01}]},
            "tick_table",
            "must be open",
        ),
        (
            {
                "market": "US",
                "currency": "USD",
                "tick_table": [
                    {"up_to": 5, "tick": 0.01},
                    {"up_to": 2, "tick": 0.05},
                    {"tick": 0.1},
                ],
            },
            "tick_table",
            "must increase",
        ),
        ({"market": "US", "currency": "USD", "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_bad_field_is_refused_by_name(fields: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        instrument_from_fields("SYM", fields)

    assert caught.value.field == field
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"symbol SYM: field {field}: ")


def test_tick_table_sugar_and_bounds() -> None:
    instrument = build(
        "PENNY",
        market="US",
        currency="USD",
        tick_table=[{"below": 1, "tick": 0.0001}, {"up_to": 100, "tick": 0.01}, {"tick": 0.05}],
    )

    assert instrument.tick_for(0.99) == Decimal("0.0001")
    assert instrument.tick_for(1.0) == Decimal("0.01")
    assert instrument.tick_for(100.0) == Decimal("0.01")
    assert instrument.tick_for(100.05) == Decimal("0.05")
    assert instrument.tick_rule is None


@pytest.mark.parametrize("price", [0.05, 0.25, 0.3, 0.5, 0.99, 1.0, 9.99, 10.0, 150.0, 5000.0, 9e3])
@pytest.mark.parametrize("symbol", ["0700.HK", "600000.SH", "510300.SH", "159915.SZ", "AAPL"])
def test_tick_rules_give_what_markets_gives(symbol: str, price: float) -> None:
    market = market_of(symbol)
    assert fallback_instrument(symbol).tick_for(price) == tick_size(market, price, symbol)


# --- the file -----------------------------------------------------------------------------


def test_the_shipped_example_loads_with_the_names_the_demo_needs() -> None:
    instruments = example_instruments()

    assert set(instruments) >= {"MSFT", "AAPL", "0700.HK", "600519.SH", "000001.SZ"}
    assert set(instruments) >= {"300750.SZ", "688981.SH", "USDCNY", "HKDCNY"}
    assert instruments["0005.HK"].lot_size == 400
    assert instruments["688981.SH"].board is Board.STAR
    assert instruments["600001.SH"].is_st and instruments["600001.SH"].previous_close == 4.0
    assert instruments["USDCNY"].fx_base == "USD" and not instruments["USDCNY"].tradable
    assert load_instruments_file(EXAMPLE) == instruments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "instruments:\n  0700.HK: {market: XHKG, currency: HKD}\n",
            "{file}: symbol 0700.HK: field lot_size: missing",
        ),
        (
            "instruments:\n  MSFT: {market: US, currency: USD, tradable: maybe}\n",
            "{file}: symbol MSFT: field tradable: expected true or false",
        ),
        (
            "instruments:\n  0700: {market: XHKG, currency: HKD, lot_size: 100}\n",
            "{file}: symbol 448: field symbol: not text; quote symbols made of digits",
        ),
        (
            "instruments:\n  MSFT: {market: US, currency: USD}\n"
            "  MSFT: {market: US, currency: USD}\n",
            "'MSFT' is given twice",
        ),
        (
            "instruments:\n  MSFT: {symbol: AAPL, market: US, currency: USD}\n",
            "{file}: symbol MSFT: field symbol: says 'AAPL'",
        ),
        (
            "instrument:\n  MSFT: {market: US, currency: USD}\n",
            "{file}: expected one top-level key, 'instruments'",
        ),
        ("instruments: [MSFT]\n", "{file}: 'instruments' must map symbols"),
        ("instruments:\n  MSFT: US\n", "{file}: symbol MSFT: expected a mapping of fields"),
        ("instruments: {MSFT: [\n", "{file}: not readable as YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_file_symbol_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "instruments.yaml"
    path.write_text(text)

    with pytest.raises(InstrumentFileError) as caught:
        load_instruments_file(path)

    assert expected.format(file=path) in str(caught.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(InstrumentFileError, match=f"{path}: cannot read"):
        instrument_book(path)


def test_an_empty_file_is_an_empty_master() -> None:
    assert parse_instruments_yaml("") == {}
    assert len(instrument_book(None)) == 0


# --- the wire -----------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", sorted(example_instruments()))
@pytest.mark.parametrize("encoding", ["json", "avro"])
def test_every_example_instrument_survives_the_wire(symbol: str, encoding: str) -> None:
    instrument = example_instruments()[symbol]
    record = instrument_record(instrument, ts=1_700_000_000_000)
    raw = encode_json(record) if encoding == "json" else encode_avro(record, "instrument")

    decoded = decode(raw, INSTRUMENT)

    assert not isinstance(decoded, DecodeFailure), decoded
    assert decoded == record
    assert instrument_of(decoded) == instrument


@pytest.mark.parametrize(
    ("payload", "reason", "error"),
    [
        (b'{"symbol": "X", "currency": "USD"}', "missing_field", "market"),
        (b'{"symbol": "X", "market": "NYSE", "currency": "USD"}', "bad_enum", "market"),
        (b'{"symbol": "X", "market": "US", "currency": "dollars"}', "bad_value", "currency"),
        (b'{"symbol": "X", "market": "XHKG", "currency": "HKD"}', "bad_value", "lot_size"),
        (
            b'{"symbol": "X", "market": "XHKG", "currency": "HKD", "lot_size": "1"}',
            "wrong_type",
            "lot_size",
        ),
        (
            b'{"symbol": "X", "market": "XSHG", "currency": "CNY", "previous_close": NaN}',
            "not_finite",
            "previous_close",
        ),
        (
            b'{"symbol": "X", "market": "XSHG", "currency": "CNY", "is_st": "Y"}',
            "bad_value",
            "is_st",
        ),
        (
            b'{"symbol": "X", "market": "US", "currency": "USD", "tick_table": [{"tick": 0}]}',
            "bad_value",
            "tick_table",
        ),
        (
            b'{"symbol": "X", "market": "US", "currency": "USD", "tick_table": [{"step": 1}]}',
            "wrong_type",
            "tick_table",
        ),
        (b'{"symbol": "X", "market": "FX", "currency": "CNY"}', "bad_value", "fx_base"),
    ],
)
def test_bad_wire_values_are_decode_failures_with_a_reason(
    payload: bytes, reason: str, error: str
) -> None:
    decoded = decode(payload, INSTRUMENT)

    assert isinstance(decoded, DecodeFailure)
    assert decoded.reason == reason
    assert error in decoded.error


def test_json_from_a_console_producer_is_accepted_with_defaults() -> None:
    raw = b'{"symbol": "0005.HK", "market": "xhkg", "currency": "HKD", "lot_size": 400}'

    decoded = decode(raw, INSTRUMENT)

    assert not isinstance(decoded, DecodeFailure)
    instrument = instrument_of(decoded)
    assert instrument.market is Market.XHKG and instrument.lot_size == 400
    assert instrument.tick_rule is TickRule.HKEX


# --- the book and the fallback ------------------------------------------------------------


def test_unknown_symbols_fall_back_to_the_suffix_rules_and_say_so() -> None:
    book = InstrumentBook(example_instruments().values())

    known, unknown = book.resolve("0005.HK"), book.resolve("0388.HK")

    assert known.source is InstrumentSource.MASTER and known.note() is None
    assert unknown.source is InstrumentSource.SUFFIX_RULES and not unknown.known
    assert unknown.instrument.lot_size == board_lot("0388.HK", Market.XHKG)
    assert unknown.instrument.currency == "HKD"
    assert unknown.note() == (
        "0388.HK is not in the instrument master: suffix rules used (XHKG, HKD, lot 100)"
    )


@pytest.mark.parametrize(
    ("symbol", "market", "currency", "lot", "fx_base"),
    [
        ("600000.SH", Market.XSHG, "CNY", 100, None),
        ("000001.XSHE", Market.XSHE, "CNY", 100, None),
        ("688111.SH", Market.XSHG, "CNY", 1, None),
        ("0941.HK", Market.XHKG, "HKD", 500, None),
        ("TSLA", Market.US, "USD", 1, None),
        ("EURUSD", Market.FX, "USD", 1, "EUR"),
        ("ABCDEF", Market.US, "USD", 1, None),
    ],
)
def test_fallback_instruments(
    symbol: str, market: Market, currency: str, lot: int, fx_base: str | None
) -> None:
    instrument = fallback_instrument(symbol)

    assert (instrument.market, instrument.currency, instrument.lot_size) == (market, currency, lot)
    assert instrument.fx_base == fx_base


def test_the_book_follows_the_compacted_topic() -> None:
    book = InstrumentBook()
    assert not book.resolve("0005.HK").known

    book.put(build("0005.HK", market="XHKG", currency="HKD", lot_size=400))
    assert book.resolve("0005.HK").known
    assert book.resolve("0005.HK").instrument.lot_size == 400

    assert book.remove("0005.HK")
    assert not book.resolve("0005.HK").known
    assert not book.remove("0005.HK")


def test_fx_pairs_reference_rates_and_sectors_come_from_the_master() -> None:
    book = InstrumentBook(example_instruments().values())

    assert book.fx_pair("USDCNY") == ("USD", "CNY")
    assert book.fx_pair("MSFT") is None
    assert book.fx_pair("EURUSD") == ("EUR", "USD")  # unknown, but an ISO pair
    assert ("USDCNY", "USD", "CNY", 7.10) in book.reference_rates()
    assert book.sectors()["0700.HK"] == "communication"
    assert book.currency_of("0700.HK") == "HKD"


def test_previous_close_is_the_masters_else_the_bars() -> None:
    assert previous_close(build(previous_close=1500.0), bars_close=1480.0) == 1500.0
    assert previous_close(build(previous_close="from_bars"), bars_close=1480.0) == 1480.0
    assert previous_close(build(), bars_close=None) is None
