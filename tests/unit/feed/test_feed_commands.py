"""Operator commands as RiskCommand records, limit assignments, and output decoding."""

from __future__ import annotations

import base64
import io
import json
import struct

import fastavro
import pytest

from redfire.feed import (
    command_key,
    command_record,
    decode_output,
    parse_limit_assignments,
)
from redfire.schemas.codec import COMMAND, decode, encode_avro, encode_json
from redfire.schemas.records import DeadLetter, RiskCommand
from redfire.schemas.registry import schema


def test_command_record_gets_fresh_id_and_time() -> None:
    first = command_record("HALT", "ACC1", {"reason": "fat finger"})
    second = command_record("HALT", "ACC1")

    assert len(first.command_id) == 32 and first.command_id != second.command_id
    int(first.command_id, 16)
    assert first.ts > 1_700_000_000_000
    assert first.payload == {"reason": "fat finger"}


def test_command_record_for_every_account_is_keyed_star() -> None:
    command = command_record("RESUME", "*", command_id="c1", ts=5)

    assert command == RiskCommand("c1", "RESUME", 5, account="*", payload={})
    assert command_key(command) == "*"
    assert command_key(command_record("HALT", None)) == "*"


def test_command_record_survives_the_codec() -> None:
    command = command_record("SET_LIMITS", "ACC1", {"max_var": 1e5, "restricted_symbols": ["X"]})

    assert decode(encode_json(command), COMMAND) == command


def test_limit_assignments_are_validated_and_typed() -> None:
    payload = parse_limit_assignments(
        [
            "max_order_notional=250000",
            "max_orders_per_window=50",
            "check_lot_size=false",
            "max_var=off",
            "restricted_symbols=TSLA,GME",
            "max_position_qty_by_symbol={AAPL: 1000}",
            "max_var_pct=0.02",
        ]
    )

    assert payload == {
        "max_order_notional": 250000.0,
        "max_orders_per_window": 50,
        "check_lot_size": False,
        "max_var": None,
        "restricted_symbols": ["GME", "TSLA"],
        "max_position_qty_by_symbol": {"AAPL": 1000.0},
        "max_var_pct": 0.02,
    }
    assert type(payload["max_orders_per_window"]) is int


def test_restricted_symbols_as_yaml_list() -> None:
    assert parse_limit_assignments(["restricted_symbols=[B, A]"]) == {
        "restricted_symbols": ["A", "B"]
    }


def test_unknown_limit_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown limit 'max_orders'.*max_order_qty"):
        parse_limit_assignments(["max_orders=5"])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("max_var_pct=5", "fraction"),
        ("max_leverage=off", "cannot be switched off"),
        ("max_order_qty", "NAME=VALUE"),
        ("=5", "NAME=VALUE"),
        ("check_lot_size=maybe", "true or false"),
    ],
)
def test_bad_limit_values_are_refused(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_limit_assignments([item])


def test_no_assignment_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        parse_limit_assignments([])


def test_decode_output_reads_json() -> None:
    assert decode_output(b'{"a": 1}', "order_decision") == {"a": 1}
    assert decode_output(None, "order_decision") is None


def test_decode_output_reads_framed_avro_with_the_topic_schema() -> None:
    letter = DeadLetter("ticks", 1, 7, "bad", b"\x00\xff", 5, key="AAPL")

    value = decode_output(encode_avro(letter, "dead_letter"), "dead_letter")

    assert value["payload"] == base64.b64encode(b"\x00\xff").decode()
    assert value["offset"] == 7 and value["key"] == "AAPL"
    json.dumps(value)


def test_decode_output_refuses_truncated_avro() -> None:
    with pytest.raises(ValueError, match="5-byte"):
        decode_output(b"\x00\x00\x00\x00\x07", "risk_command")


def test_decode_output_avro_matches_fastavro() -> None:
    command = RiskCommand("c1", "HALT", 5, account="A")
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, 7))
    fastavro.schemaless_writer(
        buffer,
        schema("risk_command").parsed,
        {
            "command_id": "c1",
            "command": "HALT",
            "account": "A",
            "payload": {},
            "ts": 5,
        },
    )

    assert decode_output(buffer.getvalue(), "risk_command") == json.loads(encode_json(command))
