"""Faust agents: thin glue that feeds micro-batches to each desk's logic.

Each desk (``MarketDesk``, ``OrderDesk``, ``FillDesk``, ``CommandDesk``,
``FirmDesk``, ``Monitor``, ``InstrumentDesk``) holds the logic of one agent and is
testable without faust; ``register_agents`` subscribes them to their topics on a
built app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types import AppT, EventT, StreamT, TopicT

from redfire.agents.batches import run_batches
from redfire.agents.commands import CommandDesk
from redfire.agents.context import AgentContext
from redfire.agents.fills import FillDesk
from redfire.agents.firm import FirmDesk
from redfire.agents.instruments import InstrumentDesk
from redfire.agents.intake import Envelope
from redfire.agents.market import MarketDesk
from redfire.agents.monitor import Monitor
from redfire.agents.orders import OrderDesk
from redfire.streams.delivery import install_raw_delivery
from redfire.streams.topics import Topics

DeskHandler = Callable[[Sequence[Envelope]], Awaitable[Awaitable[None]]]


@dataclass
class Desks:
    """The logic of every agent of one worker."""

    market: MarketDesk
    orders: OrderDesk
    fills: FillDesk
    commands: CommandDesk
    firm: FirmDesk
    monitor: Monitor
    instruments: InstrumentDesk

    @classmethod
    def build(cls, ctx: AgentContext) -> Desks:
        return cls(
            market=MarketDesk(ctx),
            orders=OrderDesk(ctx),
            fills=FillDesk(ctx),
            commands=CommandDesk(ctx),
            firm=FirmDesk(ctx),
            monitor=Monitor(ctx),
            instruments=InstrumentDesk(ctx),
        )

    def forget(self) -> None:
        """Drop per-partition caches (on revoke)."""
        self.market.forget()
        self.firm.forget()


def _agent(
    app: AppT,
    topic: TopicT,
    name: str,
    handle: DeskHandler,
    max_events: int,
    window_ms: float = 0.0,
) -> None:
    async def agent(stream: StreamT[Any]) -> None:
        async def batch(events: Sequence[EventT[Any]]) -> Awaitable[None]:
            return await handle([Envelope.of(event) for event in events])

        await run_batches(app, stream, batch, max_events, name, window_ms / 1000)

    agent.__name__ = agent.__qualname__ = name
    app.agent(topic, name=f"redfire.{name}", concurrency=1)(agent)


def register_agents(app: AppT, topics: Topics, desks: Desks, ctx: AgentContext) -> None:
    """Subscribe every desk to its topic; concurrency 1 (faust #606 commits past in-flight)."""
    settings = ctx.settings
    window = settings.batch_window_ms
    install_raw_delivery(app)
    _agent(app, topics.ticks, "market", desks.market.handle, settings.batch_max_events, window)
    _agent(app, topics.orders, "orders", desks.orders.handle, settings.order_batch_max_events)
    _agent(app, topics.fills, "fills", desks.fills.handle, settings.batch_max_events, window)
    _agent(app, topics.risk_commands, "commands", desks.commands.handle, 100)
    _agent(app, topics.firm_exposures, "firm", desks.firm.handle, 100)
    _agent(app, topics.instruments, "instruments", desks.instruments.handle, 100)
