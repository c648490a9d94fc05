"""The whole state of one worker and its lifecycle: assign, revoke, recover.

``WorkerState`` owns the account aggregates of the account partitions this
worker holds, the open bars of the ``ticks`` partitions it holds, and every
worker's mirrors of the global tables (prices, windows, limits, rules,
scenarios). After each rebalance, once faust has restored the tables,
``on_recovered`` loads what is newly owned and forgets what is not — the one
place where every cache is built and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redfire.risk.bars import Bar
from redfire.risk.live_backtest import LiveBacktest
from redfire.risk.positions import to_decimal
from redfire.risk.rules import RuleState
from redfire.state.account import AccountAggregate
from redfire.state.books import AccountBooks
from redfire.state.config import LiveConfig
from redfire.state.durable import DurableTable, decode_value
from redfire.state.market import MarketState
from redfire.state.records import AccountRecord, OrderRecord, PositionEntry, is_live_record
from redfire.streams.partitioning import partition_for

log = logging.getLogger(__name__)


@dataclass
class StateTables:
    """The durable copy of every table (DESIGN §5)."""

    accounts: DurableTable
    positions: DurableTable
    orders: DurableTable
    seen_fills: DurableTable
    seen_commands: DurableTable
    bars: DurableTable
    prices: DurableTable
    returns: DurableTable
    limits: DurableTable
    rules: DurableTable
    scenarios: DurableTable
    rule_states: DurableTable
    var_backtests: DurableTable
    firm_parts: DurableTable
    instruments: DurableTable


def compound_key(*parts: str) -> str:
    """Return one table key for several parts (``account|symbol``)."""
    return "|".join(parts)


class WorkerState:
    """Accounts, market and configuration held by one worker."""

    def __init__(
        self,
        tables: StateTables,
        market: MarketState,
        config: LiveConfig,
        books: AccountBooks,
        *,
        partitions: int,
        default_cash: float,
        deadline_of: Any,
        base_currency_of: Callable[[str], str],
    ) -> None:
        self.tables = tables
        self.market = market
        self.config = config
        self.books = books
        self.partitions = partitions
        self.default_cash = default_cash
        # order → its expiry deadline (IOC/FOK timeout, DAY session end), from the settings.
        self.deadline_of = deadline_of
        # account → its base currency (REDFIRE_ACCOUNT_BASE_CURRENCIES, REDFIRE_BASE_CURRENCY).
        self.base_currency_of = base_currency_of
        self.accounts: dict[str, AccountAggregate] = {}
        # Moves with every revocation and recovery: a timer's unit of work opened in an
        # older epoch holds aggregates since dropped, and must not write (StaleUnit).
        self.epoch = 0
        self.account_partitions: set[int] = set()
        self.symbol_partitions: set[int] = set()
        self.globals_loaded = False
        # The newest event time (fills, orders, commands) seen: the pruner's clock.
        self.latest_event_ms = 0

    # ------------------------------------------------------------- accounts

    def partition_of(self, key: str) -> int:
        return partition_for(key, self.partitions)

    def account(self, name: str) -> AccountAggregate:
        """Return the account's aggregate, opening it with the default cash when new."""
        aggregate = self.accounts.get(name)
        if aggregate is None:
            record = AccountRecord(cash=to_decimal(self.default_cash))
            base = self.base_currency_of(name)
            aggregate = AccountAggregate(name, self.partition_of(name), record, base)
            self.accounts[name] = aggregate
        return aggregate

    def saw_event(self, ts: int) -> None:
        if ts > self.latest_event_ms:
            self.latest_event_ms = ts

    def known_account(self, name: str) -> AccountAggregate | None:
        return self.accounts.get(name)

    def accounts_on(self, partition: int) -> list[AccountAggregate]:
        return sorted(
            (a for a in self.accounts.values() if a.partition == partition), key=lambda a: a.name
        )

    def market_value(self, account: AccountAggregate) -> float:
        """Return the account's net market value at the last prices (unpriced count 0)."""
        prices = self.market.prices
        total = 0.0
        for symbol, qty in account.quantities.items():
            mark = prices.get(symbol)
            if mark is not None:
                total += qty * mark.price
        return total

    def owns_account(self, name: str) -> bool:
        return self.partition_of(name) in self.account_partitions

    def order_record(self, account: AccountAggregate, order_id: str) -> OrderRecord | None:
        """Return the order's record: from memory when live, else from the table."""
        live = account.live.get(order_id)
        if live is not None:
            return live
        raw = self.tables.orders.get(account.partition, compound_key(account.name, order_id))
        return None if raw is None else OrderRecord.from_dict(raw)

    # ----------------------------------------------------------------- bars

    def bar(self, symbol: str, partition: int) -> Bar | None:
        """Return the open bar of an owned symbol (read from the table once)."""
        bars = self.market.bars
        if symbol not in bars:
            raw = self.tables.bars.get(partition, symbol)
            bars[symbol] = None if raw is None else Bar.from_dict(raw)
        return bars[symbol]

    # ------------------------------------------------------------ lifecycle

    def on_recovered(self, account_partitions: set[int], symbol_partitions: set[int]) -> None:
        """Load newly owned partitions and forget revoked ones (after table recovery)."""
        self.epoch += 1
        if not self.globals_loaded:
            self.load_globals()
        for partition in self.account_partitions - account_partitions:
            self.drop_account_partition(partition)
        for partition in sorted(account_partitions - self.account_partitions):
            self.load_account_partition(partition)
        self.account_partitions = set(account_partitions)
        if symbol_partitions != self.symbol_partitions:
            self.market.bars.clear()
            for partition in sorted(symbol_partitions):
                self.load_symbol_partition(partition)
        self.symbol_partitions = set(symbol_partitions)

    def on_revoked(self) -> None:
        """Stop serving every partition until the next recovery says what is ours."""
        self.epoch += 1
        self.account_partitions = set()
        self.symbol_partitions = set()
        self.accounts.clear()
        self.market.bars.clear()

    def load_symbol_partition(self, partition: int) -> None:
        """Read the open bars of the symbols owned here; their close is the last price.

        The global ``prices`` table gets a symbol's price at most every
        REDFIRE_PRICE_PUBLISH_MS, while the bar is written with every batch: after a
        restart the bar knows the newest price.
        """
        market = self.market
        for symbol, raw in self.tables.bars.items(partition):
            bar = Bar.from_dict(raw)
            market.bars[symbol] = bar
            market.mirror_price(symbol, {"price": bar.close, "ts": bar.last_ts})

    def drop_account_partition(self, partition: int) -> None:
        for name in [n for n, a in self.accounts.items() if a.partition == partition]:
            del self.accounts[name]

    def load_account_partition(self, partition: int) -> None:
        """Build the aggregates of every account stored in ``partition``."""
        tables = self.tables
        for name, raw in tables.accounts.items(partition):
            aggregate = self.account(name)
            record = AccountRecord.from_dict(raw)
            record.rebase(aggregate.base)
            aggregate.record = record
        for key, raw in tables.positions.items(partition):
            name, _, symbol = key.partition("|")
            self.account(name).set_position(symbol, PositionEntry.from_dict(raw))
        for _key, raw_bytes in tables.orders.store.items(partition):
            if is_live_record(raw_bytes):
                self._load_order(decode_value(raw_bytes))
        for key, raw in tables.rule_states.items(partition):
            name, _, rule_id = key.partition("|")
            self.account(name).rule_states[rule_id] = RuleState(**raw)
        for name, raw in tables.var_backtests.items(partition):
            if "scored" in raw:  # older records (flags only) start a fresh live backtest
                self.account(name).backtest = LiveBacktest.from_record(raw)
        count = sum(1 for a in self.accounts.values() if a.partition == partition)
        log.info("partition %d: %d accounts loaded", partition, count)

    def _load_order(self, raw: dict[str, Any] | None) -> None:
        if raw is None:
            return
        record = OrderRecord.from_dict(raw)
        if record.order is None:
            return
        record.deadline = self.deadline_of(record.order)
        self.account(record.order.account).put_order(record)

    def load_globals(self) -> None:
        """Fill the mirrors of the global tables from their local stores."""
        tables, market, config = self.tables, self.market, self.config
        for partition in range(self.partitions):
            for symbol, raw in tables.prices.items(partition):
                market.mirror_price(symbol, raw)
            for symbol, raw in tables.returns.items(partition):
                market.mirror_window(symbol, raw)
            for key, raw in tables.limits.items(partition):
                config.limit_overrides.apply(key, raw)
            for key, raw in tables.rules.items(partition):
                config.rules.entries.apply(key, raw)
            for key, raw in tables.scenarios.items(partition):
                config.scenarios.entries.apply(key, raw)
            for symbol, raw in tables.instruments.items(partition):
                market.apply_instrument(symbol, raw)
        self.globals_loaded = True
