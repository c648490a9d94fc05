"""Market agent: ticks → ``prices`` (global), ``bars`` and ``returns`` (global).

Bars are cut by tick timestamp at REDFIRE_BAR_INTERVAL, never by wall clock.
Duplicate and late ticks are ignored and counted; an older tick never
overwrites a newer price; a gap produces one return spanning it.
"""

from __future__ import annotations

from typing import Any

from redfire import metrics
from redfire.agents.intake import records
from redfire.app import app, settings
from redfire.risk.bars import Bar, on_tick, parse_interval
from redfire.schemas import codec
from redfire.schemas.records import Tick
from redfire.streams import topics
from redfire.tables import definitions as tables
from redfire.tables import mirrors, store

BAR_INTERVAL_MS = parse_interval(settings.bar_interval)
# The bar of each symbol this worker owns: this agent is its only writer, so the
# table is read once per symbol, not once per tick. Forgotten on a rebalance.
bar_cache: dict[str, Bar | None] = {}


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
def forget_bars(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Drop cached bars: the partitions (and their symbols) may move."""
    bar_cache.clear()


def current_bar(symbol: str) -> Bar | None:
    if symbol not in bar_cache:
        bar_cache[symbol] = store.get_bar(symbol)
    return bar_cache[symbol]


def price_state(tick: Tick) -> dict[str, Any]:
    """Return the ``prices`` table value for a tick."""
    return {"price": tick.price, "bid": tick.bid, "ask": tick.ask, "ts": tick.ts}


def update_price(tick: Tick) -> None:
    """Keep the newest price per symbol; an older tick never overwrites it."""
    last = mirrors.prices.get(tick.symbol)
    if last is None or tick.ts >= last.ts:
        value = price_state(tick)
        tables.prices[tick.symbol] = value
        mirrors.prices.set(tick.symbol, value)


def update_bars(tick: Tick) -> None:
    """Feed the tick to the symbol's bar and, on a bar close, its return window."""
    outcome = on_tick(
        current_bar(tick.symbol),
        store.get_window(tick.symbol),
        tick.ts,
        tick.price,
        tick.volume or 0.0,
        interval_ms=BAR_INTERVAL_MS,
    )
    metrics.TICK_OUTCOMES.labels(outcome.status.value).inc()
    if outcome.bar_changed and outcome.bar is not None:
        tables.bars[tick.symbol] = outcome.bar.to_dict()
        bar_cache[tick.symbol] = outcome.bar
    if outcome.window_changed:
        window = outcome.window.to_dict()
        tables.returns[tick.symbol] = window
        mirrors.windows.set(tick.symbol, window)


@app.agent(topics.ticks)
async def market(stream: Any) -> None:
    """Apply each tick to prices, bars and return windows."""
    async for _event, tick in records(stream, codec.TICK, topics.ticks, lambda t: t.symbol):
        update_price(tick)
        update_bars(tick)
