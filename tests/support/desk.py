"""A small trading desk for monitoring and stress tests: a worker's inputs and waits."""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord, TopicReader, producer, send_json
from tests.support.worker import RedFireWorker


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def monitor_env(tmp_path: Path, rules: list[dict[str, Any]]) -> dict[str, str]:
    """Return worker settings: exactly ``rules``, no scenarios, fast snapshots.

    The clock settings are for speed (a snapshot every 0.5 s, a monitor tick every
    0.2 s, instead of 5 s and 1 s); scheduled stress is pushed out so that no stress
    run interleaves with what a test watches.
    """
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"rules": rules}))
    scenarios_file = tmp_path / "scenarios.yaml"
    scenarios_file.write_text("scenarios: []\n")
    return {
        "REDFIRE_RULES_FILE": str(rules_file),
        "REDFIRE_SCENARIOS_FILE": str(scenarios_file),
        "REDFIRE_SNAPSHOT_INTERVAL": "0.5",
        "REDFIRE_MONITOR_TICK_S": "0.2",
        "REDFIRE_STRESS_INTERVAL_S": "3600",
    }


@dataclass
class Desk:
    """What a gateway and a back office send to RedFire, one record at a time."""

    worker: RedFireWorker
    sequence: int = 0
    readers: list[TopicReader] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.producer = producer(self.worker.bootstrap)

    def send(self, topic: str, key: str, value: JsonRecord) -> None:
        send_json(self.producer, self.worker.topic(topic), key, value)
        self.producer.flush(30)

    def next_id(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}-{self.sequence}"

    def tick(self, symbol: str, price: float) -> None:
        self.send("ticks", symbol, {"symbol": symbol, "ts": now_ms(), "price": price})

    def fill(self, account: str, symbol: str, side: str, qty: float, price: float) -> None:
        fill_id = self.next_id("fill")
        self.send(
            "fills",
            account,
            {
                "fill_id": fill_id,
                "order_id": f"gateway-{fill_id}",
                "account": account,
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "price": price,
                "fee": 0.0,
                "ts": now_ms(),
            },
        )

    def order(self, order_id: str, account: str, symbol: str, qty: float, price: float) -> None:
        self.send(
            "orders",
            account,
            {
                "order_id": order_id,
                "account": account,
                "symbol": symbol,
                "side": "BUY",
                "qty": qty,
                "price": price,
                "order_type": "LIMIT",
                "action": "NEW",
                "ts": now_ms(),
            },
        )

    def command(self, command: str, account: str, payload: dict[str, Any]) -> None:
        self.send(
            "risk_commands",
            account,
            {
                "command_id": self.next_id("cmd"),
                "command": command,
                "account": account,
                "payload": payload,
                "ts": now_ms(),
            },
        )

    def reader(self, topic: str) -> TopicReader:
        opened = TopicReader(self.worker.bootstrap, self.worker.topic(topic))
        self.readers.append(opened)
        return opened

    def close(self) -> None:
        for opened in self.readers:
            opened.close()


def wait_record(
    reader: TopicReader, predicate: Callable[[JsonRecord], bool], timeout: float = 60.0
) -> JsonRecord:
    """Return the first record on the topic that satisfies ``predicate``, waiting for it."""
    values = reader.wait_for(lambda found: any(predicate(v) for v in found), timeout)
    return next(v for v in values if predicate(v))


def account_alerts(reader: TopicReader, account: str) -> list[JsonRecord]:
    return [a for a in reader.json_values() if a["account"] == account]


def http_json(worker: RedFireWorker, path: str) -> Any:
    """GET a route, treating a not-yet-answering route as a retryable miss."""
    try:
        return worker.get(path)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET {path}: HTTP {exc.code}") from exc


def same(changelog_key: str | None, key: str) -> bool:
    """Compare a table changelog key (plain, or JSON-quoted by older versions) with a key."""
    if changelog_key is None:
        return False
    plain = json.loads(changelog_key) if changelog_key.startswith('"') else changelog_key
    return bool(plain == key)


def wait_price(worker: RedFireWorker, symbol: str, price: float) -> None:
    eventually(
        lambda: (http_json(worker, f"/market/{symbol}").get("price") or {}).get("price") == price,
        timeout=30,
        message=f"price of {symbol} is {price}",
    )
