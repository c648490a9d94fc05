"""Ten thousand hostile records on every input topic: all dead-lettered, the rest processed.

Random bytes, truncated and wrong-magic Avro, wrong types, missing fields, NaN and
infinity, negative and absurd sizes, unknown enums, strings over 1 MB, JSON nested
150,000 to 200,000 deep, bad commands, keys that disagree with a bad body: every one becomes
exactly one dead letter naming its topic, partition and offset, with a reason and an
error. Valid records are interleaved with them (some keyed wrongly: DESIGN §3 has those
re-keyed and processed) and every one is processed: orders decided, fills in the
positions, ticks in the prices, SET_CASH applied. The worker stays up throughout and
its resident memory stays bounded (printed).
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import fastavro
import pytest
from confluent_kafka import KafkaError, Message, Producer

from redfire.schemas.registry import schema
from tests.conftest import WorkerFactory
from tests.support.eventually import eventually
from tests.support.kafka_io import read_to_end
from tests.support.ledger import Ledger, wait_until_worker_matches_ledger
from tests.support.mixed import DecisionWatch, now_ms
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability

BAD_RECORDS = 10_000
VALID_EVERY = 20
CASH = 1_000_000_000
RSS_GROWTH_LIMIT = 300 * 2**20  # a backlog of 1 MB records must not pile up in memory
HUGE = 1_000_500  # characters: over REDFIRE_MAX_RECORD_BYTES, under the broker's 1 MiB
DEEP = 200_000  # nesting levels of a list: 400 kB
DEEP_OBJECTS = 150_000  # of an object: 900 kB, under the broker's 1 MiB
ACCOUNTS = ("HOS1", "HOS2", "HOS3")
SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0}

Maker = Callable[[random.Random, int], tuple[str, str | None, bytes]]


def base(kind: str, n: int) -> dict[str, Any]:
    """Return a valid record of ``kind`` (a topic) numbered ``n``."""
    if kind == "ticks":
        return {"symbol": "AAPL", "ts": now_ms(), "price": 190.0}
    if kind == "orders":
        return {
            "order_id": f"bad-{n}",
            "account": "HOS1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 1,
            "price": 190.0,
            "order_type": "LIMIT",
            "action": "NEW",
            "ts": now_ms(),
        }
    if kind == "fills":
        return {
            "fill_id": f"bad-{n}",
            "order_id": f"bad-{n}",
            "account": "HOS1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 1,
            "price": 190.0,
            "fee": 0.0,
            "ts": now_ms(),
        }
    return {
        "command_id": f"bad-{n}",
        "command": "SET_CASH",
        "account": "HOS1",
        "payload": {"cash": 5.0},
        "ts": now_ms(),
    }


SCHEMAS = {
    "ticks": "tick",
    "orders": "order_request",
    "fills": "fill",
    "risk_commands": "risk_command",
}
KEYS = {"ticks": "AAPL", "orders": "HOS1", "fills": "HOS1", "risk_commands": "HOS1"}
TOPICS = tuple(SCHEMAS)
RARE = [
    ("ticks", "deep list"),  # a tick batch's JSON array, nested instead of flat
    ("orders", "huge"),
    ("fills", "deep object"),
    ("risk_commands", "huge"),
    ("ticks", "huge"),
    ("orders", "deep list"),
    ("fills", "huge"),
    ("risk_commands", "deep object"),
    ("ticks", "deep object"),
    ("orders", "deep object"),
]
UNKNOWN_ENUMS = {
    "ticks": ("symbol", ""),
    "orders": ("side", "HOLD"),
    "fills": ("side", "SHORT"),
    "risk_commands": ("command", "NUKE"),
}


def avro(kind: str, value: dict[str, Any]) -> bytes:
    parsed = schema(SCHEMAS[kind])
    body = io.BytesIO()
    fields = {f["name"]: value.get(f["name"], f.get("default")) for f in parsed.fields}
    fastavro.schemaless_writer(body, parsed.parsed, fields)
    return struct.pack(">bI", 0, parsed.schema_id) + body.getvalue()


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def with_field(kind: str, n: int, name: str, value: Any) -> bytes:
    return dumps(base(kind, n) | {name: value})


def without(kind: str, n: int, name: str) -> bytes:
    record = base(kind, n)
    record.pop(name, None)
    return dumps(record)


def hostile(rng: random.Random, n: int) -> tuple[str, str | None, bytes]:
    """Return (topic, key, bytes) of the n-th hostile record; every one must be refused."""
    kind = TOPICS[n % len(TOPICS)]
    key: str | None = KEYS[kind]
    family = (n // len(TOPICS)) % 14
    if family == 0:
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
        raw = raw if raw[:1] not in (b"{", b" ") else b"\xff" + raw
    elif family == 1:
        framed = avro(kind, base(kind, n))
        raw = framed[: rng.randint(1, len(framed) - 2)]
    elif family == 2:
        raw = bytes([rng.randint(1, 31)]) + avro(kind, base(kind, n))[1:]
    elif family == 3:
        wrong = {"ticks": ("price", "cheap"), "orders": ("qty", "ten"), "fills": ("qty", [1]),
                 "risk_commands": ("payload", "all")}[kind]  # fmt: skip
        raw = with_field(kind, n, *wrong)
    elif family == 4:
        missing = {
            "ticks": "price",
            "orders": "side",
            "fills": "fill_id",
            "risk_commands": "command",
        }
        raw = without(kind, n, missing[kind])
    elif family == 5:
        raw = with_field(kind, n, "price" if kind != "risk_commands" else "ts", float("nan"))
    elif family == 6:
        raw = with_field(kind, n, "price" if kind != "risk_commands" else "ts", float("inf"))
    elif family == 7:
        name = {"ticks": "price", "orders": "qty", "fills": "qty"}.get(kind, "ts")
        raw = with_field(kind, n, name, -5)
    elif family == 8:
        name, absurd = {"ticks": ("price", 1e15), "risk_commands": ("ts", 10**30)}.get(
            kind, ("qty", 1e18)
        )
        raw = with_field(kind, n, name, absurd)
    elif family == 9:
        name, value = UNKNOWN_ENUMS[kind]
        raw = with_field(kind, n, name, value)
    elif family == 10:
        raw = bad_command(n) if kind == "risk_commands" else with_field(kind, n, "ts", "yesterday")
    elif family == 11:  # a wrong body under a key that names someone else
        key = "SOMEONE-ELSE"
        raw = with_field(kind, n, "ts", "not a time")
    elif family == 12:
        raw = b"[" * 50 + b"1" + b"]" * 50 if n % 2 else b'"just a string"'
    else:  # a list: a batch of ticks may be one (each tick then judged alone), so a bad one
        raw = dumps([base(kind, n) | {"ts": "never"}])
    return kind, key, raw


def bad_command(n: int) -> bytes:
    """A well-formed command that cannot be applied."""
    choices = [
        {"command": "SET_CASH", "payload": {"cash": "lots"}},
        {"command": "SET_CASH", "payload": {"cash": "NaN"}},
        {"command": "SET_CASH", "payload": {}},
        {"command": "SET_LIMITS", "payload": {"no_such_limit": 1}},
        {"command": "SET_LIMITS", "payload": {"max_order_qty": -3}},
        {"command": "SET_CASH", "account": None, "payload": {"cash": 1.0}},
    ]
    return dumps(base("risk_commands", n) | choices[n % len(choices)])


def rare(n: int) -> tuple[str, str | None, bytes]:
    """Return the few expensive hostile records (n = k·1000 + 999): huge or deeply nested."""
    kind, form = RARE[(n // 1000) % len(RARE)]
    if form == "huge":
        field_name = "symbol" if kind != "risk_commands" else "command_id"
        return kind, KEYS[kind], with_field(kind, n, field_name, "x" * HUGE)
    if form == "deep list":
        return kind, KEYS[kind], (b"[" * DEEP + b"1" + b"]" * DEEP)
    return kind, KEYS[kind], (b'{"a":' * DEEP_OBJECTS + b"1" + b"}" * DEEP_OBJECTS)


@dataclass
class Sent:
    """Where each record landed, from the producer's delivery reports."""

    bad: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    good: set[tuple[str, int, int]] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def callback(self, raw: bytes, hostile: bool) -> Callable[[KafkaError | None, Message], None]:
        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.errors.append(error.str())
                return
            where = (str(message.topic()), int(message.partition()), int(message.offset()))
            if hostile:
                self.bad[where] = raw
            else:
                self.good.add(where)

        return delivered


class Valid:
    """The valid records interleaved with the hostile ones, and what they should do."""

    def __init__(self) -> None:
        self.orders: list[str] = []
        self.ledger = Ledger(Fraction(CASH))
        self.cash: dict[str, float] = {}
        self.prices = dict(SYMBOLS)
        self.count = 0

    def next(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        self.count += 1
        n = self.count
        kind = TOPICS[n % len(TOPICS)]
        account = rng.choice(ACCOUNTS)
        symbol = rng.choice(list(SYMBOLS))
        if kind == "ticks":
            self.prices[symbol] = round(self.prices[symbol] + rng.choice((-0.01, 0.01)), 2)
            return kind, symbol, {"symbol": symbol, "ts": now_ms(), "price": self.prices[symbol]}
        if kind == "orders":
            self.orders.append(f"ok-{n}")
            key = account if n % 3 else "WRONG-KEY"  # re-keyed by the worker, then decided
            order = base("orders", n) | {
                "order_id": f"ok-{n}",
                "account": account,
                "symbol": symbol,
                "price": self.prices[symbol],
            }
            return kind, key, order
        if kind == "fills":
            fill = base("fills", n) | {
                "fill_id": f"ok-{n}",
                "order_id": f"gw-{n}",
                "account": account,
                "symbol": symbol,
                "side": rng.choice(("BUY", "SELL")),
                "qty": rng.randint(1, 9),
                "price": SYMBOLS[symbol],
            }
            self.ledger.apply(fill)
            return kind, account, fill
        target = f"CMD{n}"
        self.cash[target] = float(n * 1000)
        command = base("risk_commands", n) | {
            "command_id": f"ok-{n}",
            "account": target,
            "payload": {"cash": self.cash[target]},
        }
        return kind, target, command


class RssSampler:
    """Sample the worker's resident memory twice a second in a thread."""

    def __init__(self, worker: RedFireWorker) -> None:
        self.worker = worker
        self.samples: list[int | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append(self.worker.rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_ten_thousand_hostile_records_are_dead_lettered_and_the_rest_processed(
    redfire_worker: WorkerFactory,
) -> None:
    worker: RedFireWorker = redfire_worker(partitions=2, REDFIRE_DEFAULT_CASH=str(CASH))
    rng = random.Random(1234)
    producer = Producer(
        {
            "bootstrap.servers": worker.bootstrap,
            "partitioner": "murmur2_random",
            "message.max.bytes": 2_000_000,
            "linger.ms": 10,
            "log_level": 0,
        }
    )
    sent, valid = Sent(), Valid()

    def produce(topic: str, key: str | None, raw: bytes, hostile_record: bool) -> None:
        while True:
            try:
                producer.produce(
                    worker.topic(topic),
                    key=None if key is None else key.encode(),
                    value=raw,
                    on_delivery=sent.callback(raw, hostile_record),
                )
                producer.poll(0)
                return
            except BufferError:
                producer.poll(0.1)

    for symbol, price in SYMBOLS.items():
        produce("ticks", symbol, dumps({"symbol": symbol, "ts": now_ms(), "price": price}), False)
    producer.flush(30)
    watch = DecisionWatch(worker.bootstrap, worker.topic("order_decisions")).start()
    baseline_rss = worker.rss_bytes()
    assert baseline_rss is not None
    with RssSampler(worker) as rss:
        for n in range(BAD_RECORDS):
            topic, key, raw = rare(n) if n % 1000 == 999 else hostile(rng, n)
            produce(topic, key, raw, True)
            if n % VALID_EVERY == 0:
                topic, key, value = valid.next(rng)
                produce(topic, key, dumps(value), False)
        assert producer.flush(120) == 0
        assert not sent.errors, f"the broker refused some records: {sent.errors[:3]}"
        letters = wait_for_dead_letters(worker, len(sent.bad))
        watch.wait_all(valid.orders, timeout=120)
        wait_until_worker_matches_ledger(
            worker.get, valid.ledger, list(ACCOUNTS), timeout=60, what="fills among the hostile"
        )
        assert_cash_and_prices(worker, valid)
    watch.stop()

    assert_one_dead_letter_each(letters, sent)
    assert worker.is_alive() and worker.exit_code is None
    assert all(sample is not None for sample in rss.samples), "the worker stopped at some point"
    peak = max(s for s in rss.samples if s is not None)
    reasons: dict[str, int] = {}
    for letter in letters:
        reasons[letter["reason"]] = reasons.get(letter["reason"], 0) + 1
    print(
        f"\nhostile input: {len(letters)} dead letters by reason {dict(sorted(reasons.items()))}; "
        f"{valid.count} valid records processed; RSS {baseline_rss / 2**20:.0f} MiB before, "
        f"peak {peak / 2**20:.0f} MiB"
    )
    assert peak - baseline_rss < RSS_GROWTH_LIMIT, (
        f"RSS grew by {(peak - baseline_rss) / 2**20:.0f} MiB"
    )


def assert_one_dead_letter_each(letters: list[dict[str, Any]], sent: Sent) -> None:
    """Every hostile record has one dead letter with a reason, carrying its bytes.

    A record whose body names another owner than its key is forwarded to the owner's
    partition first (DESIGN §3), so its dead letter points at the forwarded copy: the
    letters are matched to the inputs by their bytes, and by position where they can be.
    """
    where = {(d["topic"], d["partition"], d["offset"]) for d in letters}
    assert len(where) == len(letters), f"{len(letters) - len(where)} records dead-lettered twice"
    assert not where & sent.good, f"valid records dead-lettered: {sorted(where & sent.good)[:3]}"
    unexplained = [d for d in letters if not (d.get("reason") and d.get("error"))]
    assert not unexplained, f"dead letters without a reason: {unexplained[:2]}"
    unmatched = Counter(sent.bad.values())
    strays = []
    for letter in letters:
        payload = base64.b64decode(letter["payload"])
        if unmatched[payload]:
            unmatched[payload] -= 1
            continue
        cut = next((raw for raw in unmatched if unmatched[raw] and raw.startswith(payload)), None)
        if payload and cut is not None and "cut" in letter["error"]:
            unmatched[cut] -= 1
        else:
            strays.append(payload[:60])
    missing = sum(unmatched.values())
    assert not missing and not strays, (
        f"{missing} hostile records without a dead letter, {len(strays)} dead letters "
        f"for no hostile record (e.g. {strays[:3]})"
    )


def wait_for_dead_letters(worker: RedFireWorker, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` dead letters are written; return them all."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = [
            json.loads(raw)
            for _k, raw, _p in read_to_end(worker.bootstrap, worker.topic("dead_letters"))
        ]
        assert worker.exit_code is None, f"the worker exited:\n{worker.log_tail(30)}"
        return len(found) >= count

    eventually(enough, timeout=240, interval=2.0, message=f"{count} dead letters")
    return found


def assert_cash_and_prices(worker: RedFireWorker, valid: Valid) -> None:
    def applied() -> bool:
        for account, cash in valid.cash.items():
            assert worker.get(f"/accounts/{account}/risk")["cash"] == cash, account
        for symbol, price in valid.prices.items():
            assert worker.get(f"/market/{symbol}")["price"]["price"] == price, symbol
        return True

    eventually(applied, timeout=60, interval=0.5, retry_on=(AssertionError, OSError))
