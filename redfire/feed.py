"""Turn files into RedFire records: the pure half of ``replay``, ``backfill-returns`` and
the operator commands (the Kafka half is ``redfire.cli.feed``).

pandas reads the file; every row becomes a JSON-ready dict (missing cells omitted, numpy
scalars turned into Python ones) that is checked with the workers' own codec before anything
is sent, so an invalid row is reported here exactly as a worker would dead-letter it. Daily
closes become the ``ReturnWindow`` a ``returns`` table value holds. No Kafka, no clocks
except the defaults of ``command_record``.
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
import uuid
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import fastavro
import numpy as np
import pandas as pd
import yaml

from redfire.risk.bars import ReturnWindow, bar_start, returns_from_closes
from redfire.risk.limits import LIMIT_NAMES, Kind, Limits, LimitValue, coerce_limit
from redfire.risk.vocabulary import ALL_ACCOUNTS
from redfire.schemas.codec import COMMAND, FILL, ORDER, TICK, DecodeFailure, RecordKind, decode
from redfire.schemas.records import CommandType, PayloadValue, RiskCommand
from redfire.schemas.registry import schema
from redfire.streams.specs import ALL_TOPICS

JsonDict = dict[str, Any]
AVRO_MAGIC: Final = 0
AVRO_HEADER_BYTES: Final = 5

# The input topics a file can feed, the record each carries and the field it is keyed by
# (DESIGN §3). A command without an account applies to every account: key "*".
FEED_KINDS: Final[Mapping[str, RecordKind[Any]]] = {
    "ticks": TICK,
    "orders": ORDER,
    "fills": FILL,
    "risk_commands": COMMAND,
}
KEY_FIELDS: Final[Mapping[str, str]] = {
    "ticks": "symbol",
    "orders": "account",
    "fills": "account",
    "risk_commands": "account",
}
# Every topic's value schema, for decoding Avro when tailing.
TOPIC_SCHEMAS: Final[Mapping[str, str]] = {spec.name: spec.schema for spec in ALL_TOPICS}
SUFFIXES: Final = (".csv", ".jsonl", ".json")


class FeedError(ValueError):
    """A file that cannot be read as asked; the message says what to fix."""


# --- reading record files ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One row of a record file as a JSON-ready dict.

    ``line`` is the row's 1-based line in a CSV (the header is line 1) or a JSON-lines
    file, or its 1-based position in a JSON array.
    """

    line: int
    data: JsonDict


def load_records(path: Path, topic: str) -> list[FeedRow]:
    """Read a CSV, JSON-lines or JSON-array file of ``topic`` records into JSON-ready rows.

    Columns the topic's schema declares as strings are read as text, so ``000001`` stays a
    symbol rather than the number 1; empty cells are left out, so optional fields take their
    defaults; ``ts`` stays as given (epoch ms or ISO-8601), the workers accept both.
    """
    kind = _feed_kind(topic)
    frame, first_line = read_frame(path, string_columns=_fields_of_type(kind, "string"))
    long_fields = _fields_of_type(kind, "long", "int")
    records = frame.to_dict(orient="records")
    return [
        FeedRow(first_line + index, row_to_record(row, long_fields))
        for index, row in enumerate(records)
    ]


def read_frame(path: Path, string_columns: Collection[str] = ()) -> tuple[pd.DataFrame, int]:
    """Return the file as a frame and the line (or position) number of its first row."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FeedError(f"{path}: unknown file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    try:
        if suffix == ".csv":
            dtypes = dict.fromkeys(string_columns, str)
            return pd.read_csv(path, dtype=dtypes, skipinitialspace=True), 2
        text = path.read_text()
    except FileNotFoundError:
        raise FeedError(f"{path}: no such file") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise FeedError(f"{path}: not readable as CSV: {exc}") from exc
    return _json_frame(path, text), 1


def _json_frame(path: Path, text: str) -> pd.DataFrame:
    # dtype=False keeps every value as JSON gave it: a number in a string field stays a
    # number, and is then reported as invalid, as a worker would.
    lines = not text.lstrip().startswith("[")
    try:
        frame = pd.read_json(io.StringIO(text), lines=lines, dtype=False, precise_float=True)
    except ValueError as exc:
        raise FeedError(f"{path}: not readable as JSON{' lines' if lines else ''}: {exc}") from exc
    if not isinstance(frame, pd.DataFrame):
        raise FeedError(f"{path}: expected JSON objects, one per record")
    return frame


def row_to_record(row: Mapping[Any, Any], long_fields: Collection[str] = ()) -> JsonDict:
    """Return one row as JSON-ready primitives, leaving out missing cells.

    In ``long_fields`` (epoch-ms ``ts``) a whole float (pandas widens an int column with a
    gap to float) and a string of digits (CSV mixes them with ISO text) become ``int``.
    """
    record: JsonDict = {}
    for column, cell in row.items():
        if _is_missing(cell):
            continue
        name = str(column)
        value = _native(cell)
        record[name] = _as_long_if_whole(value) if name in long_fields else value
    return record


def _is_missing(cell: object) -> bool:
    if isinstance(cell, list | dict | tuple | np.ndarray):
        return False
    return bool(pd.isna(cell))  # type: ignore[call-overload]


def _native(cell: object) -> Any:
    if isinstance(cell, np.generic):
        return cell.item()
    if isinstance(cell, pd.Timestamp):
        return cell.isoformat()
    return cell


def _as_long_if_whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _feed_kind(topic: str) -> RecordKind[Any]:
    kind = FEED_KINDS.get(topic)
    if kind is None:
        raise FeedError(f"unknown input topic {topic!r}; use one of {', '.join(FEED_KINDS)}")
    return kind


def _fields_of_type(kind: RecordKind[Any], *avro_types: str) -> frozenset[str]:
    return frozenset(
        spec["name"] for spec in kind.avro.fields if _base_type(spec["type"]) in avro_types
    )


def _base_type(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return branches[0] if len(branches) == 1 else None
    return avro_type


# --- keys and validation ----------------------------------------------------------------


def record_key(topic: str, data: Mapping[str, Any]) -> str | None:
    """Return the Kafka key of a record: symbol for ticks, account for orders and fills,
    account or ``*`` for risk commands; None when the key field is missing."""
    value = data.get(KEY_FIELDS[topic])
    if topic == "risk_commands" and value in (None, ""):
        return ALL_ACCOUNTS
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A row ready to send: its key and JSON bytes, its decoded ``ts`` or why it is invalid."""

    line: int
    key: str | None
    value: bytes
    ts: int | None
    failure: DecodeFailure | None

    @property
    def ok(self) -> bool:
        """Return True when a worker would accept the record."""
        return self.failure is None

    def describe_failure(self) -> str:
        """Return ``line N: reason: error`` for a report."""
        if self.failure is None:
            return f"line {self.line}: valid"
        return f"line {self.line}: {self.failure.reason}: {self.failure.error}"


def check_rows(rows: Sequence[FeedRow], topic: str) -> list[CheckedRow]:
    """Encode each row as JSON and decode it with the workers' codec, keeping the verdict."""
    kind = _feed_kind(topic)
    return [_check_row(row, topic, kind) for row in rows]


def _check_row(row: FeedRow, topic: str, kind: RecordKind[Any]) -> CheckedRow:
    value = json.dumps(row.data, separators=(",", ":"), allow_nan=True).encode()
    decoded = decode(value, kind)
    key = record_key(topic, row.data)
    if isinstance(decoded, DecodeFailure):
        return CheckedRow(row.line, key, value, None, decoded)
    return CheckedRow(row.line, key, value, int(decoded.ts), None)


def pacing_schedule(timestamps: Sequence[int | None], speed: float) -> list[float]:
    """Return when to send each record, in seconds after the first, at ``speed``× real time.

    Gaps come from the records' own ``ts``. Time never runs backwards: a record older than
    one already sent goes out at once, and the records after it keep the original clock.
    A record without a ``ts`` (an invalid row) goes out with the one before it. A speed of
    0 means as fast as possible: every offset is 0.
    """
    if speed < 0 or not math.isfinite(speed):
        raise ValueError(f"speed must be a finite number >= 0, got {speed}")
    known = [ts for ts in timestamps if ts is not None]
    if speed == 0 or not known:
        return [0.0] * len(timestamps)
    first = clock = known[0]
    offsets = []
    for ts in timestamps:
        clock = clock if ts is None else max(clock, ts)
        offsets.append((clock - first) / 1000.0 / speed)
    return offsets


# --- daily closes → return windows --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeededWindow:
    """The return window built for one symbol from its closes."""

    symbol: str
    window: ReturnWindow
    last_date: pd.Timestamp

    def changelog_record(self) -> tuple[bytes, bytes]:
        """Return the (key, value) the ``returns`` table stores: raw UTF-8 key, JSON value."""
        return self.symbol.encode(), json.dumps(self.window.to_dict()).encode()


def load_closes(path: Path) -> dict[str, pd.Series]:
    """Read daily closes (wide or long form, CSV or JSON) into per-symbol close series."""
    frame, _ = read_frame(path, string_columns=("symbol",))
    return closes_by_symbol(frame)


def is_long_form(frame: pd.DataFrame) -> bool:
    """Return True when the frame has ``symbol``, ``date`` and ``close`` columns."""
    return {"symbol", "date", "close"} <= {str(c).strip().lower() for c in frame.columns}


def closes_by_symbol(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Return each symbol's closes indexed by UTC date, oldest first, without gaps.

    Long form has columns ``symbol, date, close``; wide form has a date column (``date``,
    else the first) and one column of closes per symbol. A date given twice keeps its last
    close; symbols with no close at all are left out.
    """
    wide = _long_to_wide(frame) if is_long_form(frame) else _wide_with_dates(frame)
    series = {str(symbol): _clean_closes(wide[symbol], str(symbol)) for symbol in wide.columns}
    return {symbol: closes for symbol, closes in series.items() if not closes.empty}


def _column(frame: pd.DataFrame, name: str) -> Hashable:
    return next(c for c in frame.columns if str(c).strip().lower() == name)


def _long_to_wide(frame: pd.DataFrame) -> pd.DataFrame:
    symbol, date, close = (_column(frame, n) for n in ("symbol", "date", "close"))
    long = pd.DataFrame(
        {
            "symbol": frame[symbol].astype(str).str.strip(),
            "date": _parse_dates(frame[date]),
            "close": _numbers(frame[close], "close"),
        }
    )
    long = long.drop_duplicates(subset=["symbol", "date"], keep="last")
    return long.pivot(index="date", columns="symbol", values="close")


def _wide_with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame.columns) < 2:
        raise FeedError(
            "closes need a date column and one column per symbol (wide), "
            "or columns symbol, date, close (long)"
        )
    names = {str(c).strip().lower(): c for c in frame.columns}
    date = names.get("date", frame.columns[0])
    closes = frame.drop(columns=[date])
    wide = pd.DataFrame(
        {str(c).strip(): _numbers(closes[c], str(c)).to_numpy() for c in closes.columns},
        index=pd.DatetimeIndex(_parse_dates(frame[date]), name="date"),
    )
    return wide


def _parse_dates(column: pd.Series) -> pd.Series:
    try:
        if pd.api.types.is_integer_dtype(column):
            if column.between(1_000_01_01, 9999_12_31).all():  # yyyymmdd read as a number
                return pd.to_datetime(column.astype(str), format="%Y%m%d", utc=True)
            return pd.to_datetime(column, unit="ms", utc=True)  # epoch ms, like ``ts``
        return pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as exc:
        raise FeedError(f"dates not readable: {exc}") from exc


def _numbers(column: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_numeric(column, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise FeedError(f"closes of {name!r} are not all numbers: {exc}") from exc


def _clean_closes(closes: pd.Series, symbol: str) -> pd.Series:
    closes = closes.dropna().sort_index(kind="stable")
    closes = closes[~closes.index.duplicated(keep="last")]
    bad = closes[~(np.isfinite(closes) & (closes > 0))]
    if not bad.empty:
        raise FeedError(
            f"{symbol}: closes must be finite and positive, got {bad.iloc[0]} on {bad.index[0]}"
        )
    closes.name = symbol
    return closes


def epoch_ms(moment: pd.Timestamp) -> int:
    """Return a timestamp as epoch milliseconds (naive means UTC)."""
    utc = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return int((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1))


def seed_windows(
    closes: Mapping[str, pd.Series], capacity: int, interval_ms: int
) -> list[SeededWindow]:
    """Return each symbol's window of the newest ``capacity`` returns, sorted by symbol.

    ``last_bar_start`` is the bar of the last date, so a worker that later sees a tick of
    that same bar treats it as late instead of opening the bar a second time.
    """
    seeded = []
    for symbol in sorted(closes):
        series = closes[symbol]
        last_date = pd.Timestamp(series.index[-1])
        window = returns_from_closes(
            [float(c) for c in series.to_numpy()],
            capacity,
            last_bar_start=bar_start(epoch_ms(last_date), interval_ms),
        )
        seeded.append(SeededWindow(symbol, window, last_date))
    return seeded


# --- operator commands --------------------------------------------------------------------


def command_record(
    command: CommandType,
    account: str | None,
    payload: Mapping[str, PayloadValue] | None = None,
    *,
    command_id: str | None = None,
    ts: int | None = None,
) -> RiskCommand:
    """Return a RiskCommand with a fresh id (uuid4 hex) stamped now unless given.

    ``*`` (or None) addresses every account.
    """
    return RiskCommand(
        command_id=command_id or uuid.uuid4().hex,
        command=command,
        ts=time.time_ns() // 1_000_000 if ts is None else ts,
        account=account or ALL_ACCOUNTS,
        payload=dict(payload or {}),
    )


def command_key(command: RiskCommand) -> str:
    """Return the key a command is sent under: its account, or ``*``."""
    return command.account or ALL_ACCOUNTS


def parse_limit_assignments(items: Sequence[str]) -> dict[str, PayloadValue]:
    """Return SET_LIMITS payload values from ``NAME=VALUE`` texts, each validated.

    Values are YAML scalars or lists/maps (``max_var=250000``, ``check_lot_size=false``,
    ``restricted_symbols=[TSLA, GME]`` or ``restricted_symbols=TSLA,GME``,
    ``max_position_qty_by_symbol={AAPL: 1000}``); ``off``, ``none`` or ``null`` switch an
    optional limit off. Raise ValueError naming the valid limits on an unknown name.
    """
    if not items:
        raise ValueError("give at least one NAME=VALUE")
    payload: dict[str, PayloadValue] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        if name not in LIMIT_NAMES:
            raise ValueError(f"unknown limit {name!r}; valid limits: {', '.join(LIMIT_NAMES)}")
        payload[name] = plain_limit_value(coerce_limit(name, _limit_text(name, text)))
    return payload


_LIMIT_KINDS: Final[Mapping[str, Kind]] = {
    spec.name: spec.metadata["kind"] for spec in fields(Limits)
}


def _limit_text(name: str, text: str) -> object:
    text = text.strip()
    if text.lower() in {"off", "none", "null", "~"}:
        return None
    if _LIMIT_KINDS[name] is Kind.SYMBOLS and not text.startswith("["):
        return [symbol.strip() for symbol in text.split(",") if symbol.strip()]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"limit {name}: value {text!r} is not readable: {exc}") from exc


def plain_limit_value(value: LimitValue) -> PayloadValue:
    """Return a validated limit value as wire data (sets as sorted lists, maps as dicts)."""
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return value


# --- reading output topics ----------------------------------------------------------------


def decode_output(raw: bytes | None, schema_name: str) -> Any:
    """Return a topic value as JSON-ready data: Confluent-framed Avro (first byte 0) is read
    with ``schema_name``, anything else as JSON; bytes fields become base64 text."""
    if raw is None:
        return None
    if raw[:1] == bytes([AVRO_MAGIC]):
        if len(raw) <= AVRO_HEADER_BYTES:
            raise ValueError("Avro record shorter than its 5-byte framing")
        parsed = schema(schema_name).parsed
        value = fastavro.schemaless_reader(io.BytesIO(raw[AVRO_HEADER_BYTES:]), parsed, None)
        return jsonable(value)
    return json.loads(raw)


def jsonable(value: Any) -> Any:
    """Return ``value`` with bytes as base64 text, recursively, so json.dumps accepts it."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
