"""Market agent: ticks → the global ``prices`` table."""

from __future__ import annotations

from typing import Any

from redfire.agents.intake import records
from redfire.app import app
from redfire.schemas import codec
from redfire.schemas.records import Tick
from redfire.streams import topics
from redfire.tables import definitions as tables


def price_state(tick: Tick) -> dict[str, Any]:
    """Return the ``prices`` table value for a tick."""
    return {"price": tick.price, "bid": tick.bid, "ask": tick.ask, "ts": tick.ts}


@app.agent(topics.ticks)
async def market(stream: Any) -> None:
    """Keep the last price of every symbol; older ticks never overwrite newer."""
    async for _event, tick in records(stream, codec.TICK, topics.ticks, lambda t: t.symbol):
        last = tables.prices.get(tick.symbol)
        if last is None or tick.ts >= last["ts"]:
            tables.prices[tick.symbol] = price_state(tick)
