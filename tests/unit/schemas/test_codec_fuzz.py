"""Fuzz the wire codec: decoding never raises; every failure is a value with a reason.

hypothesis throws random bytes, arbitrary JSON, valid records with fields replaced,
removed or added, truncated and re-framed Avro, and ISO timestamps at the edges of
the calendar at ``codec.decode`` for every input kind. A record that decodes must
survive a JSON round trip unchanged. Derandomized, so a run is reproducible; the
number of inputs tried is printed at the end (``pytest -s``).
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections import Counter
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redfire.schemas import codec
from redfire.schemas.registry import schema

KINDS: dict[str, codec.RecordKind[Any]] = {
    "tick": codec.TICK,
    "order_request": codec.ORDER,
    "fill": codec.FILL,
    "risk_command": codec.COMMAND,
}
VALID: dict[str, dict[str, Any]] = {
    "tick": {"symbol": "AAPL", "ts": 1_700_000_000_000, "price": 190.5, "volume": 100.0},
    "order_request": {
        "order_id": "o-1",
        "account": "ACC1",
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 10.0,
        "price": 190.5,
        "order_type": "LIMIT",
        "action": "NEW",
        "ts": 1_700_000_000_000,
    },
    "fill": {
        "fill_id": "f-1",
        "order_id": "o-1",
        "account": "ACC1",
        "symbol": "AAPL",
        "side": "SELL",
        "qty": 5.0,
        "price": 191.0,
        "fee": 0.5,
        "ts": 1_700_000_000_000,
    },
    "risk_command": {
        "command_id": "c-1",
        "command": "SET_CASH",
        "account": "ACC1",
        "payload": {"cash": 1_000_000.0},
        "ts": 1_700_000_000_000,
    },
}
FUZZ = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TRIED: Counter[str] = Counter()

kinds = st.sampled_from(sorted(KINDS))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "BUY", "sell", "NEW", "SET_CASH", "2024-01-01T00:00:00Z"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    total = sum(TRIED.values())
    detail = ", ".join(f"{name} {count}" for name, count in sorted(TRIED.items()))
    print(f"\ncodec fuzz: {total} inputs decoded ({detail})")


def assert_decodes_to_value(raw: bytes | None, kind_name: str, family: str) -> Any:
    """Decode; the outcome is a record of the kind or a failure with a reason. Never raises."""
    TRIED[family] += 1
    kind = KINDS[kind_name]
    result = codec.decode(raw, kind, codec.Limits())
    if isinstance(result, codec.DecodeFailure):
        assert isinstance(result.reason, str) and result.reason.strip(), result
        assert isinstance(result.error, str) and result.error.strip(), result
        return result
    again = codec.decode(codec.encode_json(result), kind, codec.Limits())
    assert again == result, f"{result!r} does not survive a JSON round trip: {again!r}"
    return result


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@FUZZ
@given(kind=kinds, raw=st.binary(max_size=300))
def test_random_bytes_never_raise(kind: str, raw: bytes) -> None:
    assert_decodes_to_value(raw, kind, "random bytes")


@FUZZ
@given(kind=kinds, value=json_values)
def test_arbitrary_json_never_raises(kind: str, value: Any) -> None:
    assert_decodes_to_value(dumps(value), kind, "arbitrary JSON")


@FUZZ
@given(kind=kinds, data=st.data())
def test_valid_records_with_fields_replaced_removed_or_added_never_raise(
    kind: str, data: st.DataObject
) -> None:
    record = dict(VALID[kind])
    names = sorted(record)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        record[name] = data.draw(json_values)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        record.pop(name, None)
    record.update(data.draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    assert_decodes_to_value(dumps(record), kind, "mutated records")


def avro_bytes(kind: str) -> bytes:
    """Return the valid record of ``kind`` as Confluent-framed Avro."""
    avro = schema(KINDS[kind].schema_name)
    body = io.BytesIO()
    value = {f["name"]: VALID[kind].get(f["name"], f.get("default")) for f in avro.fields}
    fastavro.schemaless_writer(body, avro.parsed, value)
    return struct.pack(">bI", codec.AVRO_MAGIC, avro.schema_id) + body.getvalue()


@FUZZ
@given(kind=kinds, data=st.data())
def test_truncated_reframed_and_corrupted_avro_never_raise(kind: str, data: st.DataObject) -> None:
    framed = avro_bytes(kind)
    cut = data.draw(st.integers(min_value=0, max_value=len(framed)))
    flips = data.draw(st.lists(st.integers(min_value=0, max_value=len(framed) - 1), max_size=4))
    corrupted = bytearray(framed)
    for at in flips:
        corrupted[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    magic = data.draw(st.integers(min_value=0, max_value=255))
    for raw in (
        framed[:cut],
        bytes(corrupted),
        bytes([magic]) + framed[1:],
        framed[:5] + data.draw(st.binary(max_size=64)),
    ):
        assert_decodes_to_value(raw, kind, "Avro")


@FUZZ
@given(
    kind=st.sampled_from(["tick", "order_request", "fill"]),
    moment=st.datetimes(timezones=st.timezones()),
)
def test_iso_timestamps_anywhere_in_the_calendar_never_raise(kind: str, moment: Any) -> None:
    record = dict(VALID[kind])
    record["ts"] = moment.isoformat()
    result = assert_decodes_to_value(dumps(record), kind, "ISO timestamps")
    if not isinstance(result, codec.DecodeFailure):
        assert result.ts >= 0


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_deeply_nested_json_is_a_failure_not_a_crash(kind: str, opener: str, closer: str) -> None:
    depth = 200_000
    raw = (opener * depth + "1" + closer * depth).encode()
    result = assert_decodes_to_value(raw, kind, "nested JSON")
    assert isinstance(result, codec.DecodeFailure)


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("price", 10**400, "absurd_size"),
        ("price", -(10**400), "absurd_size"),
        ("qty", 10**400, "absurd_size"),
        ("ts", 10**400, "bad_value"),
        ("ts", "1969-12-31T23:59:59Z", "bad_value"),
        ("ts", "0001-01-01T00:00:00+14:00", "bad_value"),
        ("ts", "2024-13-01T00:00:00Z", "bad_value"),
        ("ts", "2024-01-01T00:00:00", "bad_value"),
    ],
    ids=[
        "price 1e400",
        "price -1e400",
        "qty 1e400",
        "ts 1e400",
        "ts 1969",
        "ts year 1",
        "ts month 13",
        "ts no zone",
    ],
)
def test_numbers_and_dates_beyond_range_have_their_reason(
    field: str, value: Any, reason: str
) -> None:
    record = dict(VALID["order_request"], **{field: value})
    result = assert_decodes_to_value(dumps(record), "order_request", "edge numbers")
    assert isinstance(result, codec.DecodeFailure)
    assert result.reason == reason, result


def test_valid_records_of_every_kind_decode() -> None:
    for kind in KINDS:
        decoded = assert_decodes_to_value(dumps(VALID[kind]), kind, "valid")
        assert not isinstance(decoded, codec.DecodeFailure), decoded
        assert not isinstance(
            assert_decodes_to_value(avro_bytes(kind), kind, "valid"), codec.DecodeFailure
        )
        assert math.isfinite(float(VALID[kind]["ts"]))
