"""Typed reads and writes of the tables (values are JSON in the changelog).

Every write re-assigns the key, which is what makes faust send the changelog
record. No function here awaits, so a read-modify-write is atomic in the loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from redfire.app import settings
from redfire.risk.bars import Bar, ReturnWindow
from redfire.risk.lifecycle import OrderLifecycle
from redfire.risk.positions import Position
from redfire.streams.partitioning import partition_for
from redfire.tables import definitions as tables
from redfire.tables.accounts import AccountState, TradingState, stricter

FIRM_STATE_KEY = "__firm__"


class PositionIndex:
    """account → symbols held, kept in memory and rebuilt after recovery.

    The positions table has one small record per (account, symbol), so a fill
    writes O(1) bytes; this index answers "what does the account hold" without
    a table scan.
    """

    def __init__(self) -> None:
        self._symbols: dict[str, set[str]] = defaultdict(set)

    def add(self, account: str, symbol: str) -> None:
        self._symbols[account].add(symbol)

    def symbols(self, account: str) -> frozenset[str]:
        return frozenset(self._symbols.get(account, ()))

    def accounts(self) -> frozenset[str]:
        return frozenset(self._symbols)

    def rebuild(self, keys: Iterator[str]) -> None:
        self._symbols.clear()
        for key in keys:
            account, _, symbol = key.partition("|")
            self._symbols[account].add(symbol)


position_index = PositionIndex()


async def rebuild_position_index() -> None:
    """Rebuild the index from the positions table (after recovery or a rebalance)."""
    position_index.rebuild(iter(tables.positions.keys()))


tables.positions.on_recover(rebuild_position_index)


class SeenPruner:
    """Forget idempotency keys older than the retention, partition by partition.

    faust writes a deletion to the changelog partition of the current event, so
    only keys owned by that partition are pruned while one of its events runs.
    """

    def __init__(self, table: Any, retention_s: float, every: int = 5000) -> None:
        self.table = table
        self.retention_ms = retention_s * 1000
        self.every = every
        self.count = 0

    def tick(self, partition: int, ts: int) -> int:
        """Count one event; every ``every`` events prune this partition's stale keys."""
        self.count += 1
        if self.count % self.every:
            return 0
        return self.prune(partition, ts - self.retention_ms)

    def prune(self, partition: int, horizon: float) -> int:
        stale = [
            key
            for key, ts in self.table.items()
            if ts < horizon and owner_partition(key) == partition
        ]
        for key in stale:
            del self.table[key]
        return len(stale)


def owner_partition(key: str) -> int:
    """Return the partition that owns a table key (its first part is the account)."""
    return partition_for(key.partition("|")[0], settings.partitions)


def get_account(account: str) -> AccountState:
    """Return the account's state, opening it with the default cash if new."""
    raw = tables.accounts.get(account)
    if raw is None:
        return AccountState.opening(account, settings.default_cash)
    return AccountState.from_dict(raw)


def put_account(state: AccountState) -> None:
    tables.accounts[state.account] = state.to_dict()


def get_position(account: str, symbol: str) -> Position:
    raw = tables.positions.get(tables.compound_key(account, symbol))
    return Position.flat() if raw is None else Position.from_dict(raw)


def put_position(account: str, symbol: str, position: Position) -> None:
    tables.positions[tables.compound_key(account, symbol)] = position.to_dict()
    position_index.add(account, symbol)


def positions_of(account: str) -> dict[str, Position]:
    """Return every position the account has held (flat ones included)."""
    return {symbol: get_position(account, symbol) for symbol in position_index.symbols(account)}


def get_order(account: str, order_id: str) -> OrderLifecycle | None:
    raw = tables.orders_state.get(tables.compound_key(account, order_id))
    return None if raw is None else OrderLifecycle.from_dict(raw)


def put_order(order: OrderLifecycle) -> None:
    tables.orders_state[tables.compound_key(order.account, order.order_id)] = order.to_dict()


def last_price(symbol: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = tables.prices.get(symbol)
    return value


def get_bar(symbol: str) -> Bar | None:
    raw = tables.bars.get(symbol)
    return None if raw is None else Bar.from_dict(raw)


def get_window(symbol: str) -> ReturnWindow:
    raw = tables.returns.get(symbol)
    if raw is None:
        return ReturnWindow.empty(settings.var_window)
    return ReturnWindow.from_dict(raw)


def firm_trading_state() -> TradingState:
    """Return the firm-wide trading state set by a HALT/RESUME with account ``*``."""
    raw = tables.limits.get(FIRM_STATE_KEY) or {}
    state: TradingState = raw.get("trading_state", "ACTIVE")
    return state


def effective_trading_state(account: AccountState) -> TradingState:
    """Return the stricter of the account's and the firm's trading state."""
    return stricter(account.trading_state, firm_trading_state())
