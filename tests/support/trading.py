"""A small desk for the in-process engine: price history, cash, orders, fills, commands.

Builds on ``tests.support.engine``: daily closes give every symbol a return window long
enough for VaR, then trading happens at ``engine.now_ms`` (one second after the last close).
``deliver`` hands what the engine sent to one of its own input topics back to the desk that
consumes it, on the partition it was sent to — the way Kafka would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redfire.agents.intake import Envelope
from redfire.web.reports import RiskReader
from redfire.web.views import account_or_blank, risk_body
from tests.support.engine import Engine

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000
DAYS = 30


def closes(base: float, days: int = DAYS, step: int = 7) -> list[float]:
    """Return a deterministic wiggle of daily closes around ``base``."""
    return [
        round(base * (1 + 0.013 * ((i * step) % 5 - 2) + 0.002 * (i % 3)), 4) for i in range(days)
    ]


def history(engine: Engine, prices: Mapping[str, float]) -> None:
    """Send DAYS daily closes per symbol; trading then happens one second after the last."""
    for step, (symbol, base) in enumerate(sorted(prices.items()), start=3):
        series = closes(base, step=step)
        engine.ticks(
            *({"symbol": symbol, "price": p, "ts": T0 + i * DAY} for i, p in enumerate(series))
        )
        engine.ticks({"symbol": symbol, "price": base, "ts": T0 + (DAYS - 1) * DAY + 500})
    engine.now_ms = T0 + (DAYS - 1) * DAY + 1000


def command(command_id: str, name: str, account: str | None, **payload: Any) -> dict[str, Any]:
    return {"command_id": command_id, "command": name, "account": account, "payload": payload}


def send_commands(engine: Engine, *commands: dict[str, Any]) -> None:
    engine.commands(*({**c, "ts": c.get("ts", engine.now_ms)} for c in commands))


def set_cash(engine: Engine, account: str, cash: float) -> None:
    send_commands(engine, command(f"cash-{account}", "SET_CASH", account, cash=cash))


def fill(
    engine: Engine,
    fill_id: str,
    account: str,
    symbol: str,
    side: str,
    qty: float,
    price: float,
    order_id: str | None = None,
) -> None:
    engine.fills(
        {
            "fill_id": fill_id,
            "order_id": order_id or f"gw-{fill_id}",
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "ts": engine.now_ms,
        }
    )


def order(
    engine: Engine, order_id: str, account: str, symbol: str, side: str, qty: float, price: float
) -> None:
    engine.orders(
        {
            "order_id": order_id,
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "ts": engine.now_ms,
        }
    )


def sent_on(engine: Engine, topic: str) -> list[tuple[int | None, str | None, Any]]:
    """Return (partition, key, JSON value) of every record the engine sent to ``topic``."""
    return [
        (s.partition, None if s.key is None else s.key.decode(), s.json())
        for s in engine.producer.sent
        if s.topic == topic
    ]


def deliver(engine: Engine, topic: str, start: int = 0) -> int:
    """Feed the records sent to ``topic`` (from index ``start``) to the desk that reads it.

    Return how many records the topic had, for the next call's ``start``.
    """
    sent = [s for s in engine.producer.sent if s.topic == topic]
    desk = {
        engine.names.risk_commands: engine.desks.commands,
        engine.names.firm_exposures: engine.desks.firm,
        engine.names.orders: engine.desks.orders,
    }[topic]
    for record in sent[start:]:
        partition = record.partition or 0
        slot = (topic, partition)
        engine.offsets[slot] = engine.offsets.get(slot, -1) + 1
        envelope = Envelope(topic, partition, engine.offsets[slot], record.key, record.value)
        engine.run(desk.handle([envelope]))
    return len(sent)


def reader(engine: Engine) -> RiskReader:
    desks = engine.desks
    return RiskReader(engine.settings, engine.state, desks.firm)


def risk(engine: Engine, account: str) -> dict[str, Any]:
    """Return GET /accounts/{account}/risk as the owning worker answers it."""
    state = engine.state
    aggregate = account_or_blank(state, account)
    return reader(engine).complete_risk_body(risk_body(state, aggregate), aggregate, engine.now_ms)
