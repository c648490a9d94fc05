"""The engine in-process: memory tables, a list producer, desks fed with records.

This is the test tier that reaches RedFire's logic without a broker: the same
``WorkerState``, desks and unit of work a worker builds, with the faust parts
replaced by a partitioned dict (``MemoryPartitionStore``) and a producer that
keeps what it is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redfire.agents import Desks
from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope
from redfire.app import build_state
from redfire.settings import Settings
from redfire.state.memory import memory_tables
from redfire.state.worker import StateTables, WorkerState
from redfire.streams.partitioning import partition_for
from redfire.streams.topics import TopicNames


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None

    def json(self) -> Any:
        return json.loads(self.value or b"null")


@dataclass
class Delivery:
    offset: int


class ListProducer:
    """Keep every record sent; deliver each at once, or fail when told to."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.offsets: dict[tuple[str, int | None], int] = {}
        self.fail_topics: set[str] = set()

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> Awaitable[Delivery]:
        self.sent.append(Sent(topic, key, value, partition))
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        if topic in self.fail_topics:
            future.set_exception(RuntimeError(f"broker refused a record for {topic}"))
        else:
            slot = (topic, partition)
            self.offsets[slot] = self.offsets.get(slot, -1) + 1
            future.set_result(Delivery(self.offsets[slot]))
        return future

    def send_now(self) -> None:
        """Nothing lingers here: every record is delivered as it is sent."""

    def on(self, topic: str) -> list[Any]:
        """Return the JSON values sent to ``topic``, in order."""
        return [s.json() for s in self.sent if s.topic == topic]


@dataclass
class Engine:
    """One worker's logic, in memory."""

    settings: Settings
    state: WorkerState
    producer: ListProducer
    context: AgentContext
    desks: Desks
    names: TopicNames
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    now_ms: int = 1_700_000_000_000

    def envelope(self, topic: str, key: str | None, value: Mapping[str, Any] | bytes) -> Envelope:
        """Return the record as it would arrive: on its key's partition, next offset."""
        partition = partition_for(key, self.settings.partitions) if key is not None else 0
        slot = (topic, partition)
        self.offsets[slot] = self.offsets.get(slot, -1) + 1
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        encoded_key = None if key is None else key.encode()
        return Envelope(topic, partition, self.offsets[slot], encoded_key, raw)

    def run(self, coroutine: Awaitable[object]) -> None:
        asyncio.run(_await(coroutine))

    def ticks(self, *ticks: Mapping[str, Any]) -> None:
        envelopes = [self.envelope(self.names.ticks, t["symbol"], t) for t in ticks]
        self.run(self.desks.market.handle(envelopes))

    def orders(self, *orders: Mapping[str, Any]) -> None:
        names = self.names
        envelopes = [self.envelope(names.orders, o["account"], o) for o in orders]
        self.run(self.desks.orders.handle(envelopes))

    def fills(self, *fills: Mapping[str, Any]) -> None:
        envelopes = [self.envelope(self.names.fills, f["account"], f) for f in fills]
        self.run(self.desks.fills.handle(envelopes))

    def commands(self, *commands: Mapping[str, Any]) -> None:
        names = self.names
        envelopes = [
            self.envelope(names.risk_commands, c.get("account") or "*", c) for c in commands
        ]
        self.run(self.desks.commands.handle(envelopes))

    def instruments(self, *records: Mapping[str, Any]) -> None:
        """Send instrument master records to the instruments agent (``symbol`` keys them)."""
        names = self.names
        envelopes = [self.envelope(names.instruments, r["symbol"], r) for r in records]
        self.run(self.desks.instruments.handle(envelopes))

    def remove_instrument(self, symbol: str) -> None:
        """Send a tombstone for ``symbol`` to the instruments agent."""
        envelope = self.envelope(self.names.instruments, symbol, b"")
        tombstone = dataclasses.replace(envelope, value=None)
        self.run(self.desks.instruments.handle([tombstone]))

    def redeliver(self, envelopes: Iterable[Envelope], topic: str) -> None:
        desk = {
            self.names.orders: self.desks.orders,
            self.names.fills: self.desks.fills,
            self.names.ticks: self.desks.market,
        }[topic]
        self.run(desk.handle(list(envelopes)))

    def monitor(self) -> None:
        self.run(self.desks.monitor.run_pass())

    def decisions(self) -> list[dict[str, Any]]:
        return self.producer.on(self.names.order_decisions)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.producer.on(self.names.dead_letters)


async def _await(coroutine: Awaitable[object]) -> None:
    """Run a desk's batch to the end: its handling, then the delivery of its writes."""
    delivered = await coroutine
    if isinstance(delivered, Awaitable):
        await delivered


def build_engine(
    settings: Settings | None = None, tables: StateTables | None = None, **overrides: Any
) -> Engine:
    """Build the engine's logic over memory tables (pass ``tables`` to restart on them)."""
    settings = settings or Settings(**{"partitions": 4, **overrides})
    tables = tables or memory_tables()
    state = build_state(settings, tables, inline_refits=True)
    producer = ListProducer()
    names = TopicNames.of(settings)
    engine = Engine(settings, state, producer, None, None, names)  # type: ignore[arg-type]
    context = AgentContext(settings, state, producer, names, clock=lambda: engine.now_ms)
    engine.context = context
    engine.desks = Desks.build(context)
    state.on_recovered(set(range(settings.partitions)), set(range(settings.partitions)))
    return engine
