"""Tick batch records: a JSON array or an Avro TickBatch, each tick validated on its own."""

from __future__ import annotations

import io
import json
import struct

import fastavro

from redfire.schemas import codec
from redfire.schemas.records import Tick
from redfire.schemas.registry import schema

T0 = 1_700_000_000_000


def avro_batch(ticks: list[dict[str, object]]) -> bytes:
    batch = schema("tick_batch")
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, batch.schema_id))
    full = [{"bid": None, "ask": None, "volume": None, **t} for t in ticks]
    fastavro.schemaless_writer(buffer, batch.parsed, {"ticks": full})
    return buffer.getvalue()


def test_single_tick_record_is_not_a_batch() -> None:
    decoded = codec.decode_ticks(json.dumps({"symbol": "A", "price": 1.0, "ts": T0}).encode())
    assert isinstance(decoded, codec.Batch)
    assert not decoded.is_batch
    assert decoded.items == [Tick("A", T0, 1.0)]


def test_json_array_keeps_order_and_fails_ticks_one_by_one() -> None:
    raw = json.dumps(
        [{"symbol": "A", "price": 1.0, "ts": T0}, {"symbol": "B", "ts": T0}, [1, 2]]
    ).encode()
    decoded = codec.decode_ticks(raw)
    assert isinstance(decoded, codec.Batch) and decoded.is_batch
    first, second, third = decoded.items
    assert first == Tick("A", T0, 1.0)
    assert isinstance(second, codec.DecodeFailure) and second.reason == "missing_field"
    assert second.error.startswith("tick 2 of 3:")
    assert isinstance(third, codec.DecodeFailure) and third.reason == "wrong_type"


def test_avro_tick_batch_decodes_by_its_schema_id() -> None:
    decoded = codec.decode_ticks(avro_batch([{"symbol": "A", "price": 2.0, "ts": T0}] * 3))
    assert isinstance(decoded, codec.Batch) and decoded.is_batch
    assert decoded.items == [Tick("A", T0, 2.0)] * 3


def test_a_batch_that_is_not_a_list_of_ticks_is_one_failure() -> None:
    assert isinstance(codec.decode_ticks(b"[1, 2"), codec.DecodeFailure)
    oversized = json.dumps([{}] * (codec.MAX_TICKS_PER_BATCH + 1)).encode()
    failure = codec.decode_ticks(oversized, codec.Limits(max_record_bytes=10**8))
    assert isinstance(failure, codec.DecodeFailure) and failure.reason == "absurd_size"


def test_a_batch_nested_too_deeply_is_one_failure_not_a_crash() -> None:
    decoded = codec.decode_ticks(b"[" * 100_000 + b"]" * 100_000)

    assert isinstance(decoded, codec.DecodeFailure)
    assert decoded.reason == "undecodable" and "nested too deeply" in decoded.error
