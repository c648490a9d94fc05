"""faust's per-event floor: the pipeline benchmark's job with plain dicts and no tables.

Run by ``bench_pipeline.py`` as ``faust -A floor_app worker`` (cwd bench/), with
FLOOR_BROKER, FLOOR_APP_ID, FLOOR_EXPECTED (events to process), FLOOR_STATS (a
JSON file written when they are all processed) and FLOOR_WEB_PORT.

The logical job is the benchmark's: tick → last price; fill → position += qty;
order → read the position and the price, produce one decision. Every agent
iterates its stream the way faust's documentation shows (``async for event in
stream.events()``), with faust's default settings otherwise: this is what faust
itself costs per event.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import faust

app = faust.App(
    os.environ.get("FLOOR_APP_ID", "bench-floor"),
    broker=os.environ.get("FLOOR_BROKER", "kafka://127.0.0.1:9092"),
    web_port=int(os.environ.get("FLOOR_WEB_PORT", "6067")),
    web_bind="127.0.0.1",
    autodiscover=False,
    store="memory://",
    topic_partitions=4,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.1,
)
EXPECTED = int(os.environ.get("FLOOR_EXPECTED", "0"))
STATS = Path(os.environ.get("FLOOR_STATS", "floor-stats.json"))


def raw(name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw")  # fmt: skip


ticks, orders, fills, decisions = raw("ticks"), raw("orders"), raw("fills"), raw("floor_decisions")
prices: dict[str, float] = {}
positions: dict[tuple[str, str], float] = {}
progress = {"processed": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0, "cpu_last": 0.0}


def processed() -> None:
    """Count one event; write the stats once every expected event is processed."""
    now = time.time()
    if progress["processed"] == 0:
        progress["first"] = now
        progress["cpu_first"] = time.process_time()
    progress["processed"] += 1
    progress["last"] = now
    if progress["processed"] == EXPECTED:
        progress["cpu_last"] = time.process_time()
        STATS.write_text(json.dumps(progress))


@app.agent(ticks)
async def on_ticks(stream: Any) -> None:
    async for event in stream.events():
        tick = json.loads(event.message.value)
        prices[tick["symbol"]] = tick["price"]
        processed()


@app.agent(fills)
async def on_fills(stream: Any) -> None:
    async for event in stream.events():
        fill = json.loads(event.message.value)
        key = (fill["account"], fill["symbol"])
        signed = fill["qty"] if fill["side"] == "BUY" else -fill["qty"]
        positions[key] = positions.get(key, 0.0) + signed
        processed()


@app.agent(orders)
async def on_orders(stream: Any) -> None:
    async for event in stream.events():
        order = json.loads(event.message.value)
        position = positions.get((order["account"], order["symbol"]), 0.0)
        price = prices.get(order["symbol"])
        approved = price is not None and abs(position) < 1e6
        decision = {"order_id": order["order_id"], "decision": approved, "position": position}
        await decisions.send(key=event.message.key, value=json.dumps(decision).encode())
        processed()
