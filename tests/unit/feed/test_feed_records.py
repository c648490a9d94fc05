"""Record files → JSON-ready rows: CSV and JSON parsing, keys, validation with the codec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redfire.feed import (
    FeedError,
    FeedRow,
    check_rows,
    load_records,
    record_key,
    row_to_record,
)

TICKS_CSV = """symbol,ts,price,bid,ask,volume
AAPL,1700000000000,190.5,190.4,190.6,100
000001.XSHE,1700000001000,10.25,,,
AAPL,2023-11-14T22:13:22Z,190.75,,,5
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_ticks_become_json_ready_dicts_without_empty_cells(tmp_path: Path) -> None:
    rows = load_records(write(tmp_path, "ticks.csv", TICKS_CSV), "ticks")

    assert [row.data for row in rows] == [
        {
            "symbol": "AAPL",
            "ts": 1700000000000,
            "price": 190.5,
            "bid": 190.4,
            "ask": 190.6,
            "volume": 100,
        },
        {"symbol": "000001.XSHE", "ts": 1700000001000, "price": 10.25},
        {"symbol": "AAPL", "ts": "2023-11-14T22:13:22Z", "price": 190.75, "volume": 5},
    ]
    assert [row.line for row in rows] == [2, 3, 4]


def test_csv_numbers_are_python_numbers_not_numpy(tmp_path: Path) -> None:
    rows = load_records(write(tmp_path, "ticks.csv", TICKS_CSV), "ticks")

    assert type(rows[0].data["ts"]) is int
    assert type(rows[0].data["price"]) is float
    json.dumps([row.data for row in rows])  # nothing numpy left to trip the encoder


def test_csv_epoch_ts_with_gaps_stays_integer(tmp_path: Path) -> None:
    # A gap widens pandas' int column to float; ts must still go out as an integer.
    text = "symbol,ts,price\nAAPL,1700000000000,1\nAAPL,,2\n"
    rows = load_records(write(tmp_path, "ticks.csv", text), "ticks")

    assert rows[0].data["ts"] == 1700000000000
    assert type(rows[0].data["ts"]) is int
    assert "ts" not in rows[1].data


def test_csv_string_fields_keep_leading_zeros(tmp_path: Path) -> None:
    text = "fill_id,order_id,account,symbol,side,qty,price,ts\n7,0042,0001,600000,buy,100,9.5,1\n"
    rows = load_records(write(tmp_path, "fills.csv", text), "fills")

    assert rows[0].data == {
        "fill_id": "7",
        "order_id": "0042",
        "account": "0001",
        "symbol": "600000",
        "side": "buy",
        "qty": 100,
        "price": 9.5,
        "ts": 1,
    }


def test_jsonl_keeps_values_as_given(tmp_path: Path) -> None:
    text = (
        '{"symbol": "AAPL", "ts": "2024-01-02T14:30:00Z", "price": 0.1, "bid": null}\n'
        '{"symbol": "MSFT", "ts": 1704205800000, "price": 370, "volume": 12}\n'
    )
    rows = load_records(write(tmp_path, "ticks.jsonl", text), "ticks")

    assert [row.data for row in rows] == [
        {"symbol": "AAPL", "ts": "2024-01-02T14:30:00Z", "price": 0.1},
        {"symbol": "MSFT", "ts": 1704205800000, "price": 370.0, "volume": 12.0},
    ]
    assert [row.line for row in rows] == [1, 2]


def test_json_array_file_is_read_like_json_lines(tmp_path: Path) -> None:
    text = json.dumps([{"symbol": "AAPL", "ts": 1, "price": 2.5}])
    rows = load_records(write(tmp_path, "ticks.json", text), "ticks")

    assert rows == [FeedRow(1, {"symbol": "AAPL", "ts": 1, "price": 2.5})]


def test_unknown_file_type_is_refused_with_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"\.csv, \.jsonl, \.json"):
        load_records(write(tmp_path, "ticks.parquet", ""), "ticks")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="no such file"):
        load_records(tmp_path / "nope.jsonl", "ticks")


def test_row_to_record_turns_whole_floats_and_digit_strings_into_ints_for_long_fields() -> None:
    row = {"ts": 1700000000000.0, "seq": "17", "price": 2.0, "other": "17"}

    assert row_to_record(row, long_fields={"ts", "seq"}) == {
        "ts": 1700000000000,
        "seq": 17,
        "price": 2.0,
        "other": "17",
    }


@pytest.mark.parametrize(
    ("topic", "data", "key"),
    [
        ("ticks", {"symbol": "AAPL", "account": "A1"}, "AAPL"),
        ("orders", {"symbol": "AAPL", "account": "A1"}, "A1"),
        ("fills", {"symbol": "AAPL", "account": "A1"}, "A1"),
        ("risk_commands", {"account": "A1"}, "A1"),
        ("risk_commands", {"account": None}, "*"),
        ("risk_commands", {}, "*"),
        ("ticks", {"price": 1.0}, None),
    ],
)
def test_record_key_follows_the_topic(topic: str, data: dict[str, object], key: str | None) -> None:
    assert record_key(topic, data) == key


def test_check_rows_reports_invalid_rows_with_line_and_reason(tmp_path: Path) -> None:
    text = (
        "symbol,ts,price\n"
        "AAPL,1700000000000,190.5\n"
        "AAPL,1700000001000,-1\n"
        ",1700000002000,5\n"
        "AAPL,yesterday,5\n"
        "MSFT,2024-01-02T14:30:00Z,370\n"
    )
    checked = check_rows(load_records(write(tmp_path, "ticks.csv", text), "ticks"), "ticks")

    assert [row.ok for row in checked] == [True, False, False, False, True]
    assert [row.failure.reason for row in checked if row.failure] == [
        "non_positive",
        "missing_field",
        "bad_value",
    ]
    assert checked[1].describe_failure() == "line 3: non_positive: price must be > 0, got -1.0"
    assert checked[4].ts == 1704205800000  # ISO decoded for pacing, sent as given
    assert json.loads(checked[4].value)["ts"] == "2024-01-02T14:30:00Z"
    assert checked[0].key == "AAPL" and checked[2].key is None


def test_check_rows_accepts_orders_with_lowercase_enums_and_no_price(tmp_path: Path) -> None:
    text = (
        "order_id,account,symbol,side,qty,price,order_type,ts\n"
        "o1,ACC1,AAPL,buy,100,,MARKET,1700000000000\n"
        "o2,ACC1,AAPL,hold,100,10,LIMIT,1700000000000\n"
    )
    checked = check_rows(load_records(write(tmp_path, "orders.csv", text), "orders"), "orders")

    assert checked[0].ok and checked[0].key == "ACC1"
    assert "price" not in json.loads(checked[0].value)
    assert checked[1].failure is not None and checked[1].failure.reason == "bad_enum"


def test_unknown_feed_topic_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="unknown input topic"):
        load_records(write(tmp_path, "x.csv", "a\n1\n"), "order_decisions")
