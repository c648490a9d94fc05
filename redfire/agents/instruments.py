"""Instruments agent: the ``instruments`` topic → the global ``instruments`` table.

The ``instruments`` topic (compacted, key symbol) carries the instrument master. The worker
that owns a partition of it validates each record — a bad one is a dead letter with its
reason, as on every input topic — and writes the entry to the global ``instruments`` table,
which every worker mirrors into its ``InstrumentBook`` (``MarketState.apply_instrument``). So
every worker sees the whole master, written once per record, and a restart reads the table
back instead of the topic. A new deployment (a new REDFIRE_APP_ID) reads the topic from its
beginning. A tombstone (a record without a value) removes the symbol, which then falls back
to the suffix rules, whether the entry came from the topic or from REDFIRE_INSTRUMENTS_FILE.

Entries carry a ``_version`` one above the entry they replace, so a changelog record read
back late never undoes a newer entry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from redfire.agents.context import AgentContext
from redfire.agents.intake import Envelope, Intake
from redfire.risk.instruments import Instrument
from redfire.schemas import codec
from redfire.schemas.records import Instrument as InstrumentRecord
from redfire.state.unit import UnitOfWork

log = logging.getLogger(__name__)


class InstrumentDesk:
    """Validate instrument records and publish them to every worker's master."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.intake: Intake[InstrumentRecord] = Intake(
            ctx, codec.INSTRUMENT, lambda record: record.symbol
        )

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        uow = self.ctx.unit()
        for envelope in envelopes:
            if envelope.value is None:
                await self.remove(envelope, uow)
                continue
            record = await self.intake.read(envelope, uow)
            if record is not None:
                self.put(codec.instrument_of(record), envelope, uow)
        self.intake.publish_counts()
        return await uow.flush()

    def put(self, instrument: Instrument, envelope: Envelope, uow: UnitOfWork) -> None:
        """Store one valid entry (the codec has checked it) and apply it here at once."""
        self.write(instrument.symbol, instrument, envelope, uow)
        log.info("instrument %s: %s %s", instrument.symbol, instrument.market, instrument.currency)

    async def remove(self, envelope: Envelope, uow: UnitOfWork) -> None:
        """Apply a tombstone: the symbol leaves the master."""
        symbol = envelope.key_text()
        if not symbol:
            await self.intake.dead_letter(
                envelope, uow, "missing_key", "an instruments tombstone needs the symbol as key"
            )
            return
        self.write(symbol, None, envelope, uow)
        log.info("instrument %s removed from the master", symbol)

    def write(
        self, symbol: str, instrument: Instrument | None, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        market = self.state.market
        value = market.instrument_entry(instrument, symbol)
        # On the record's own partition: transactional producers (exactly_once) may write it.
        partition = envelope.partition % self.state.partitions
        uow.stage(self.state.tables.instruments, partition, symbol, lambda: value)
        market.apply_instrument(symbol, value)
