"""Market agent: ticks → last prices, bars and return windows.

Bars are cut by tick timestamp at REDFIRE_BAR_INTERVAL, never by wall clock.
Duplicate and late ticks are ignored and counted; an older tick never
overwrites a newer price; a gap produces one return spanning it.

Per batch, each symbol's bar is written once, its window once when a bar
closed, and its price to the global ``prices`` table at most once per
REDFIRE_PRICE_PUBLISH_MS: the worker that owns a symbol prices with every
tick; other workers (and a restart) see the price of at most that long ago.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Sequence

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope, Intake
from redfire.schemas import codec
from redfire.schemas.records import Tick
from redfire.state.durable import JsonValue
from redfire.state.unit import UnitOfWork, ValueSource


class MarketDesk:
    """Apply ticks to the market state and stage what changed."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.market = ctx.state.market
        self.intake: Intake[Tick] = Intake(
            ctx, codec.TICK, lambda tick: tick.symbol, batches=codec.decode_ticks
        )
        self.publish_interval_ns = ctx.settings.price_publish_ms * 1_000_000
        self.published_ns: dict[str, int] = {}
        # Prices changed since last written to the global table: symbol → partition.
        self.unpublished: dict[str, int] = {}
        self.statuses: Counter[str] = Counter()

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        """Apply one batch of tick records in order; return the wait for its writes."""
        uow = self.ctx.unit()
        await self.intake.process(
            envelopes, uow, lambda tick, envelope: self.apply(tick, envelope.partition, uow)
        )
        self.stage_prices(uow, time.monotonic_ns())
        delivered = await uow.flush()
        self.publish_counts()
        return delivered

    def apply(self, tick: Tick, partition: int, uow: UnitOfWork) -> None:
        """Fold one tick of an owned symbol into its price, bar and window."""
        symbol = tick.symbol
        effect = self.market.apply_tick(tick, self.state.bar(symbol, partition))
        self.statuses[effect.status.value] += 1
        tables = self.state.tables
        if effect.price_changed:
            self.unpublished[symbol] = partition
        if effect.bar_changed:
            uow.stage(tables.bars, partition, symbol, self._bar_value(symbol))
        if effect.window_changed:
            uow.stage(tables.returns, partition, symbol, self._window_value(symbol))

    def stage_prices(self, uow: UnitOfWork, now_ns: int) -> None:
        """Stage the prices that are due for the global table."""
        due_before = now_ns - self.publish_interval_ns
        published = self.published_ns
        prices = self.state.tables.prices
        for symbol, partition in list(self.unpublished.items()):
            if published.get(symbol, 0) <= due_before:
                published[symbol] = now_ns
                del self.unpublished[symbol]
                uow.stage(prices, partition, symbol, self._price_value(symbol))

    def forget(self) -> None:
        """Drop what belongs to partitions that may have moved (on revoke)."""
        self.unpublished.clear()

    def publish_counts(self) -> None:
        self.intake.publish_counts()
        for status, count in self.statuses.items():
            metrics.TICK_OUTCOMES.labels(status).inc(count)
        self.statuses.clear()

    def _bar_value(self, symbol: str) -> ValueSource:
        market = self.market

        def value() -> JsonValue | None:
            bar = market.bars.get(symbol)
            return None if bar is None else bar.to_dict()

        return value

    def _window_value(self, symbol: str) -> ValueSource:
        market = self.market

        def value() -> JsonValue | None:
            mark = market.window(symbol)
            return None if mark is None else mark.window.to_dict()

        return value

    def _price_value(self, symbol: str) -> ValueSource:
        market = self.market

        def value() -> JsonValue | None:
            mark = market.price(symbol)
            return None if mark is None else mark.to_dict()

        return value
