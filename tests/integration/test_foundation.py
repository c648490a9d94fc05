"""Issue 2 on a real Kafka: plain producers in, plain consumers out, bad input survived."""

from __future__ import annotations

import json
import math
import random
import subprocess
from typing import Any

import pytest

from tests.plugins.kafka_broker import launcher
from tests.support.desk import wait_price
from tests.support.eventually import eventually
from tests.support.kafka_io import TopicReader, by_field, producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000


def tick(symbol: str, price: float, ts: int = T0) -> dict[str, Any]:
    return {"symbol": symbol, "ts": ts, "price": price}


def order(order_id: str, account: str = "ACC1", **fields: Any) -> dict[str, Any]:
    base = {
        "order_id": order_id,
        "account": account,
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 1,
        "price": 100.0,
        "ts": T0 + 1,
    }
    return base | fields


def console_produce(bootstrap: str, topic: str, lines: list[str]) -> None:
    """Send ``key|value`` lines with Kafka's own ConsoleProducer from the jars."""
    libs = launcher().fetch()
    subprocess.run(
        [
            "java",
            "-Xmx256m",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
        ],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=120,
    )


def set_cash(worker: RedFireWorker, account: str, cash: float) -> None:
    prod = producer(worker.bootstrap)
    command = {
        "command_id": f"cash-{account}",
        "command": "SET_CASH",
        "account": account,
        "payload": {"cash": cash},
        "ts": T0,
    }
    send_json(prod, worker.topic("risk_commands"), account, command)
    prod.flush(30)
    # Commands and orders are separate topics: wait for the cash before any order.
    eventually(
        lambda: worker.get(f"/accounts/{account}/risk")["cash"] == cash,
        timeout=60,
        retry_on=(AssertionError, OSError),
    )


def test_orders_from_confluent_and_console_producers_get_decisions(redfire_worker: Any) -> None:
    worker: RedFireWorker = redfire_worker()
    set_cash(worker, "ACC1", 1_000_000)
    prod = producer(worker.bootstrap)
    send_json(prod, worker.topic("ticks"), "AAPL", tick("AAPL", 100.0))
    prod.flush(30)
    # Ticks and orders are separate topics: wait for the price before any order.
    wait_price(worker, "AAPL", 100.0)
    worker_reader = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
    send_json(prod, worker.topic("orders"), "ACC1", order("from-confluent"))
    prod.flush(30)
    console_line = "ACC1|" + json.dumps(order("from-console", ts=T0 + 2))
    console_produce(worker.bootstrap, worker.topic("orders"), [console_line])

    decisions = worker_reader.wait_for(
        lambda values: {"from-confluent", "from-console"} <= {v["order_id"] for v in values}
    )
    indexed = by_field(decisions, "order_id")
    for order_id in ("from-confluent", "from-console"):
        assert indexed[order_id]["decision"] == "APPROVED", indexed[order_id]
        assert indexed[order_id]["var_before"] is not None or indexed[order_id]["reasons"] == []
    worker_reader.close()


def malformed_records(rng: random.Random, count: int) -> list[tuple[str, bytes, str]]:
    """Return (topic, bytes, expected reason family) for ``count`` bad records."""
    good = order("x")
    makers: list[tuple[str, Any]] = [
        ("orders", lambda i: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))),
        ("orders", lambda i: json.dumps(order(f"bad-{i}"))[: rng.randint(1, 40)].encode()),
        ("orders", lambda i: json.dumps(good | {"order_id": f"bad-{i}", "qty": "ten"}).encode()),
        ("orders", lambda i: json.dumps(good | {"order_id": f"bad-{i}", "qty": -5}).encode()),
        ("orders", lambda i: json.dumps(good | {"order_id": f"bad-{i}", "side": "HOLD"}).encode()),
        ("orders", lambda i: json.dumps({"order_id": f"bad-{i}", "account": "ACC1"}).encode()),
        ("ticks", lambda i: b'{"symbol": "AAPL", "ts": 1, "price": NaN}'),
        (
            "ticks",
            lambda i: (
                json.dumps({"symbol": "AAPL", "ts": 1, "price": math.inf}).encode()
                if False
                else b'{"symbol": "AAPL", "ts": 1, "price": Infinity}'
            ),
        ),
        ("ticks", lambda i: json.dumps(tick("AAPL", 0.0)).encode()),
        ("fills", lambda i: json.dumps({"fill_id": f"f{i}", "qty": 1e30}).encode()),
        ("orders", lambda i: json.dumps([1, 2, 3]).encode()),
        ("orders", lambda i: b"\x00\x00\x00\x00\x02\xff\xff"),
    ]
    records = []
    for i in range(count):
        topic, make = makers[i % len(makers)]
        records.append((topic, make(i), topic))
    return records


def test_malformed_records_go_to_dead_letters_and_valid_ones_are_processed(
    redfire_worker: Any,
) -> None:
    worker: RedFireWorker = redfire_worker()
    set_cash(worker, "ACC1", 1e9)
    rng = random.Random(42)
    bad = malformed_records(rng, 1000)
    prod = producer(worker.bootstrap)
    send_json(prod, worker.topic("ticks"), "AAPL", tick("AAPL", 100.0))
    valid_ids = []
    for i, (topic, raw, _family) in enumerate(bad):
        key = "AAPL" if topic == "ticks" else "ACC1"
        prod.produce(worker.topic(topic), key=key.encode(), value=raw)
        if i % 10 == 0:
            valid_ids.append(f"ok-{i}")
            send_json(prod, worker.topic("orders"), "ACC1", order(f"ok-{i}", ts=T0 + 10 + i))
        prod.poll(0)
    prod.flush(60)

    letters = TopicReader(worker.bootstrap, worker.topic("dead_letters"))
    decisions = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
    dead = letters.wait_for(lambda values: len(values) >= len(bad), timeout=180)
    decided = decisions.wait_for(
        lambda values: set(valid_ids) <= {v["order_id"] for v in values}, timeout=180
    )

    assert len(dead) == len(bad)
    assert all(letter["error"] and letter["reason"] for letter in dead)
    sent_payloads = sorted(raw for _t, raw, _f in bad)
    import base64

    assert sorted(base64.b64decode(letter["payload"]) for letter in dead) == sent_payloads
    assert {v["order_id"] for v in decided} >= set(valid_ids)
    assert worker.is_alive()
    assert worker.get("/health")["status"] == "ok"
    letters.close()
    decisions.close()


def test_prices_survive_a_worker_restart(redfire_worker: Any) -> None:
    worker: RedFireWorker = redfire_worker()
    set_cash(worker, "ACC1", 1_000_000)
    prod = producer(worker.bootstrap)
    send_json(prod, worker.topic("ticks"), "MSFT", tick("MSFT", 410.5))
    prod.flush(30)
    reader = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
    send_json(prod, worker.topic("orders"), "ACC1", order("before", symbol="MSFT", price=410.5))
    prod.flush(30)
    reader.wait_for(lambda values: any(v["order_id"] == "before" for v in values))

    worker.stop()
    worker.start()
    send_json(
        prod, worker.topic("orders"), "ACC1", order("after", symbol="MSFT", price=410.0, ts=T0 + 5)
    )
    prod.flush(30)
    values = reader.wait_for(lambda values: any(v["order_id"] == "after" for v in values))
    after = by_field(values, "order_id")["after"]
    assert after["decision"] == "APPROVED", after
    assert not any(r["check"] == "known_symbol_with_price" for r in after["reasons"])
    reader.close()
