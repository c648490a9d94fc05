"""Decode JSON or Confluent-framed Avro into validated records; encode outputs.

Decoding never raises on bad input: it returns a :class:`DecodeFailure` whose
``reason`` is a short metric label and whose ``error`` says what was wrong.
"""

from __future__ import annotations

import base64
import io
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from datetime import datetime
from functools import cache
from typing import Any, Generic, TypeVar

import fastavro

from redfire import jsonio
from redfire.risk.instruments import (
    Instrument,
    InstrumentError,
    instrument_fields,
    instrument_from_fields,
)
from redfire.schemas import records
from redfire.schemas.registry import AvroSchema, schema

T = TypeVar("T")
AVRO_MAGIC = 0
MAX_ID_LENGTH = 256
JsonDict = dict[str, Any]


class InvalidRecord(ValueError):
    """A record that cannot be used; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: str
    error: str


@dataclass(frozen=True)
class RecordKind(Generic[T]):
    """How one record type is read from and written to the wire."""

    schema_name: str
    build: Callable[[JsonDict], T]
    check: Callable[[T], None]

    @property
    def avro(self) -> AvroSchema:
        return schema(self.schema_name)


@dataclass(frozen=True)
class Limits:
    """Sanity bounds applied to every incoming record."""

    max_record_bytes: int = 1_000_000
    max_abs_qty: float = 1e12
    max_price: float = 1e9


def decode(raw: bytes | None, kind: RecordKind[T], limits: Limits = Limits()) -> T | DecodeFailure:
    """Decode and validate one record, detecting JSON or Avro per record."""
    try:
        return _record(_parse(raw, kind.avro, limits), kind, limits)
    except InvalidRecord as bad:
        return DecodeFailure(bad.reason, bad.error)


def _record(data: JsonDict, kind: RecordKind[T], limits: Limits) -> T:
    record = kind.build(_normalize(data, kind.avro))
    kind.check(record)
    _check_sizes(record, limits)
    return record


# A batch of ticks holds at most this many: a feed handler's batch, not a backfill.
MAX_TICKS_PER_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """What one input record held: its items in order (``is_batch``: it was a batch record)."""

    items: list[T | DecodeFailure]
    is_batch: bool


def decode_ticks(
    raw: bytes | None, limits: Limits = Limits()
) -> Batch[records.Tick] | DecodeFailure:
    """Decode a tick record, or a batch of them, each tick validated on its own.

    A batch is a JSON array of tick objects or a Confluent-framed Avro
    ``TickBatch`` (schema ``tick_batch``). A record that cannot be read at all
    is one failure; otherwise every tick is a ``Tick`` or its own failure, in
    order, so one bad tick does not cost the others.
    """
    try:
        items = _tick_batch_items(raw, limits)
    except InvalidRecord as bad:
        return DecodeFailure(bad.reason, bad.error)
    if items is None:
        single: records.Tick | DecodeFailure = decode(raw, TICK, limits)
        return Batch([single], is_batch=False)
    decoded: list[records.Tick | DecodeFailure] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidRecord("wrong_type", f"a {type(item).__name__}, not a tick object")
            decoded.append(_record(item, TICK, limits))
        except InvalidRecord as bad:
            error = f"tick {index + 1} of {len(items)}: {bad.error}"
            decoded.append(DecodeFailure(bad.reason, error))
    return Batch(decoded, is_batch=True)


def _tick_batch_items(raw: bytes | None, limits: Limits) -> list[Any] | None:
    """Return the items of a tick batch, or None when ``raw`` is a single record."""
    if not raw or len(raw) > limits.max_record_bytes:
        return None
    if raw[0] == AVRO_MAGIC:
        batch = schema("tick_batch")
        if len(raw) < 5 or int.from_bytes(raw[1:5], "big") != batch.schema_id:
            return None
        items = _parse_avro(raw, batch).get("ticks")
    elif raw.lstrip()[:1] == b"[":
        try:
            items = jsonio.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRecord("undecodable", f"tick batch is not JSON: {exc}") from exc
        except RecursionError as exc:  # json's C scanner recurses once per nesting level
            raise InvalidRecord("undecodable", "tick batch JSON nested too deeply") from exc
    else:
        return None
    if not isinstance(items, list):
        raise InvalidRecord("wrong_type", "a tick batch holds a list of ticks")
    if len(items) > MAX_TICKS_PER_BATCH:
        raise InvalidRecord(
            "absurd_size", f"tick batch of {len(items)} ticks exceeds {MAX_TICKS_PER_BATCH}"
        )
    return items


def _parse(raw: bytes | None, avro: AvroSchema, limits: Limits) -> JsonDict:
    if not raw:
        raise InvalidRecord("empty", "empty record: no value bytes")
    if len(raw) > limits.max_record_bytes:
        raise InvalidRecord(
            "too_large", f"record of {len(raw)} bytes exceeds {limits.max_record_bytes}"
        )
    if raw[0] == AVRO_MAGIC:
        return _parse_avro(raw, avro)
    return _parse_json(raw)


def _parse_avro(raw: bytes, avro: AvroSchema) -> JsonDict:
    if len(raw) < 6:
        raise InvalidRecord("undecodable", "Avro record shorter than its 5-byte framing")
    try:
        value = fastavro.schemaless_reader(io.BytesIO(raw[5:]), avro.parsed, None)
    except Exception as exc:  # fastavro raises many types for corrupt bytes
        raise InvalidRecord("undecodable", f"Avro {avro.name} decode failed: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRecord("undecodable", "Avro value is not a record")
    return value


def _parse_json(raw: bytes) -> JsonDict:
    try:
        value = jsonio.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord("undecodable", f"neither Avro nor JSON: {exc}") from exc
    except RecursionError as exc:  # json's C scanner recurses once per nesting level
        raise InvalidRecord("undecodable", "JSON nested too deeply") from exc
    if not isinstance(value, dict):
        raise InvalidRecord("wrong_type", f"JSON value is a {type(value).__name__}, not an object")
    return value


Coercer = Callable[[str, Any], Any]


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """How one top-level field is read: its coercion and its default, if any."""

    name: str
    coerce: Coercer | None
    has_default: bool
    default: Any


_PLANS: dict[str, tuple[FieldPlan, ...]] = {}


def _plan(avro: AvroSchema) -> tuple[FieldPlan, ...]:
    """Resolve each field's coercion once per schema (this runs for every record)."""
    plan = _PLANS.get(avro.name)
    if plan is None:
        plan = _PLANS[avro.name] = tuple(
            FieldPlan(spec["name"], _coercer(spec["type"]), "default" in spec, spec.get("default"))
            for spec in avro.fields
        )
    return plan


def _normalize(data: Mapping[str, Any], avro: AvroSchema) -> JsonDict:
    out: JsonDict = {}
    for field in _plan(avro):
        name = field.name
        value = data.get(name)
        if value is not None:
            out[name] = value if field.coerce is None else field.coerce(name, value)
        elif field.has_default:
            out[name] = field.default
        elif name in data:
            raise InvalidRecord("missing_field", f"field {name!r} is null")
        else:
            raise InvalidRecord("missing_field", f"missing field {name!r}")
    return out


def _coercer(avro_type: Any) -> Coercer | None:
    """Return the function that coerces a value of ``avro_type`` (None: take it as is)."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return _coercer(branches[0]) if len(branches) == 1 else None
    if isinstance(avro_type, dict):
        return lambda name, value: _coerce_complex(name, value, avro_type)
    return _PRIMITIVES.get(avro_type)


def _coerce_complex(name: str, value: Any, avro_type: dict[str, Any]) -> Any:
    kind = avro_type["type"]
    if kind == "enum":
        if not isinstance(value, str) or value.upper() not in avro_type["symbols"]:
            raise InvalidRecord(
                "bad_enum", f"field {name!r}: {_shown(value)} is not one of {avro_type['symbols']}"
            )
        return value.upper()
    if kind == "map":
        if not isinstance(value, dict):
            raise InvalidRecord("wrong_type", f"field {name!r} must be an object")
        return dict(value)
    if kind == "array":
        if not isinstance(value, list):
            raise InvalidRecord("wrong_type", f"field {name!r} must be an array")
        return list(value)
    return value


def _as_string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRecord("wrong_type", f"field {name!r} must be a string, got {_shown(value)}")
    if not value.strip():
        raise InvalidRecord("bad_value", f"field {name!r} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRecord("bad_value", f"field {name!r} longer than {MAX_ID_LENGTH} chars")
    return value


def _as_double(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord("wrong_type", f"field {name!r} must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError as exc:  # an integer literal beyond any float
        raise InvalidRecord("absurd_size", f"field {name!r} is too large: {exc}") from exc
    if not math.isfinite(number):
        raise InvalidRecord("not_finite", f"field {name!r} is {number}")
    return number


def _as_long(name: str, value: Any) -> int:
    if name == "ts" and isinstance(value, str):
        value = _iso_to_epoch_ms(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord("wrong_type", f"field {name!r} must be an integer, got {_shown(value)}")
    if not 0 <= value < 2**63:
        raise InvalidRecord("bad_value", f"field {name!r} out of range: {_shown(value)}")
    return value


def _iso_to_epoch_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRecord("bad_value", f"ts {_shown(text)} is not ISO-8601") from exc
    if parsed.tzinfo is None:
        raise InvalidRecord("bad_value", f"ts {_shown(text)} has no timezone")
    return round(parsed.timestamp() * 1000)


def _shown(value: Any, most: int = 80) -> str:
    """Return ``repr(value)`` cut to ``most`` characters: errors travel in dead letters."""
    text = repr(value)
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} chars)"


_PRIMITIVES: dict[str, Callable[[str, Any], Any]] = {
    "string": _as_string,
    "double": _as_double,
    "float": _as_double,
    "long": _as_long,
    "int": _as_long,
}


def _check_sizes(record: object, limits: Limits) -> None:
    qty = getattr(record, "qty", None)
    if qty is not None and abs(qty) > limits.max_abs_qty:
        raise InvalidRecord("absurd_size", f"qty {qty} exceeds {limits.max_abs_qty:g}")
    for name in ("price", "bid", "ask"):
        price = getattr(record, name, None)
        if price is not None and price > limits.max_price:
            raise InvalidRecord("absurd_size", f"{name} {price} exceeds {limits.max_price:g}")


def _positive(record: object, *names: str) -> None:
    for name in names:
        value = getattr(record, name)
        if value is not None and value <= 0:
            raise InvalidRecord("non_positive", f"{name} must be > 0, got {value}")


def _check_tick(tick: records.Tick) -> None:
    _positive(tick, "price", "bid", "ask")
    if tick.volume is not None and tick.volume < 0:
        raise InvalidRecord("non_positive", f"volume must be >= 0, got {tick.volume}")


def _check_order(order: records.OrderRequest) -> None:
    _positive(order, "price")
    if order.action != "CANCEL":
        _positive(order, "qty")
    if order.order_type == "MARKET" and order.price is not None:
        raise InvalidRecord("bad_value", "a MARKET order carries no price")


def _check_fill(fill: records.Fill) -> None:
    _positive(fill, "qty", "price")


def _no_check(_: object) -> None:
    return None


def _build_command(data: JsonDict) -> records.RiskCommand:
    return records.RiskCommand(**data)


TICK = RecordKind("tick", lambda d: records.Tick(**d), _check_tick)
ORDER = RecordKind("order_request", lambda d: records.OrderRequest(**d), _check_order)
FILL = RecordKind("fill", lambda d: records.Fill(**d), _check_fill)
COMMAND = RecordKind("risk_command", _build_command, _no_check)


def to_jsonable(record: object) -> JsonDict:
    """Return the record as JSON-ready primitives (bytes as base64)."""
    if not is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"{record!r} is not a record")
    # Not dataclasses.asdict: it deep-copies every value, and this runs per decision.
    return {name: _jsonable_value(getattr(record, name)) for name in _field_names(type(record))}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


# Values of these exact types go to JSON as they are (most values: the first test).
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _jsonable_value(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple or kind is list:
        return [_jsonable_value(v) for v in value]
    if isinstance(value, str | int | float):  # subclasses, such as the enums
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [_jsonable_value(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value)
    return value


def encode_json(record: object) -> bytes:
    """Encode a record as compact JSON."""
    return dump_json(to_jsonable(record))


def dump_json(value: JsonDict) -> bytes:
    """Encode JSON-ready primitives compactly."""
    return jsonio.dumps(value)


def encode_avro(record: object, schema_name: str) -> bytes:
    """Encode a record as Confluent-framed Avro (magic byte 0 + 4-byte id)."""
    avro = schema(schema_name)
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", AVRO_MAGIC, avro.schema_id))
    value = asdict(record)  # type: ignore[call-overload]
    fastavro.schemaless_writer(buffer, avro.parsed, value)
    return buffer.getvalue()


# --- reference data -----------------------------------------------------------------------

_TICK_BAND_KEYS = frozenset({"bound", "tick", "inclusive"})


def _build_instrument(data: JsonDict) -> records.Instrument:
    bands = tuple(_tick_band(band) for band in data.get("tick_table") or ())
    return records.Instrument(**{**data, "tick_table": bands})


def _tick_band(band: Any) -> records.TickBand:
    if not isinstance(band, dict) or "tick" not in band or set(band) - _TICK_BAND_KEYS:
        expected = "tick_table bands must be objects {bound?, tick, inclusive?}"
        raise InvalidRecord("wrong_type", f"{expected}, got {band!r}")
    return records.TickBand(
        tick=band["tick"],
        bound=band.get("bound"),
        inclusive=band.get("inclusive", True),
    )


def instrument_of(record: records.Instrument) -> Instrument:
    """Return the risk core's instrument for a wire record; raise InstrumentError if invalid."""
    fields = {name: getattr(record, name) for name in _field_names(records.Instrument)}
    fields["tick_table"] = None
    if record.tick_table:
        fields["tick_table"] = [
            {"bound": band.bound, "tick": band.tick, "inclusive": band.inclusive}
            for band in record.tick_table
        ]
    return instrument_from_fields(record.symbol, fields)


def instrument_record(instrument: Instrument, ts: int = 0) -> records.Instrument:
    """Return the wire record of an instrument, stamped ``ts``."""
    fields = instrument_fields(instrument)
    table = fields.pop("tick_table")
    bands = tuple(records.TickBand(**band) for band in table or ())
    return records.Instrument(**fields, tick_table=bands, ts=ts)


def _check_instrument(record: records.Instrument) -> None:
    try:
        instrument_of(record)
    except InstrumentError as bad:
        raise InvalidRecord("bad_value", str(bad)) from None


INSTRUMENT = RecordKind("instrument", _build_instrument, _check_instrument)
