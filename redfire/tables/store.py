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
from redfire.risk.lifecycle import (
    LIVE_STATUSES,
    OrderLifecycle,
    OrderType,
    TimeInForce,
    Transitioned,
)
from redfire.risk.positions import Position
from redfire.streams.partitioning import partition_for
from redfire.tables import definitions as tables
from redfire.tables import mirrors
from redfire.tables.accounts import AccountState, TradingState, stricter
from redfire.tables.mirrors import PriceMark

FIRM_STATE_KEY = "__firm__"
# Each record a fill changes keeps the fills-partition offset of the last fill
# applied to it. After a crash a table can be restored to an older value than
# another table holds; the watermark lets a redelivered fill be applied to exactly
# the records that lack it, so no fill is lost or counted twice.
FILL_OFFSET = "fill_offset"


class PositionIndex:
    """account → {symbol: qty} in memory, rebuilt after recovery.

    The positions table has one small record per (account, symbol), so a fill
    writes O(1) bytes; this index answers "what does the account hold" without
    a table scan or a decode per symbol.
    """

    def __init__(self) -> None:
        self._qty: dict[str, dict[str, float]] = defaultdict(dict)

    def set(self, account: str, symbol: str, qty: float) -> None:
        self._qty[account][symbol] = qty

    def symbols(self, account: str) -> frozenset[str]:
        return frozenset(self._qty.get(account, ()))

    def quantities(self, account: str) -> dict[str, float]:
        """Return symbol → qty of the account's non-flat positions."""
        return {s: q for s, q in self._qty.get(account, {}).items() if q != 0.0}

    def accounts(self) -> frozenset[str]:
        return frozenset(self._qty)

    def rebuild(self, items: Iterator[tuple[str, dict[str, Any]]]) -> None:
        self._qty.clear()
        for key, raw in items:
            account, _, symbol = key.partition("|")
            self._qty[account][symbol] = float(raw["qty"])


class LiveOrders:
    """account → its live orders (APPROVED, OPEN, PARTIALLY_FILLED) and when each expires.

    Keeping each order's expiry deadline here makes the per-order expiry sweep
    O(1) unless something is actually due.
    """

    def __init__(self) -> None:
        self._deadlines: dict[str, dict[str, int]] = defaultdict(dict)
        self._earliest: dict[str, int] = {}

    def update(self, order: OrderLifecycle) -> None:
        deadlines = self._deadlines[order.account]
        if order.status in LIVE_STATUSES:
            deadline = order_deadline(order)
            deadlines[order.order_id] = deadline
            self._earliest[order.account] = min(deadline, self._earliest.get(order.account, NEVER))
        elif deadlines.pop(order.order_id, None) is not None:
            self._earliest[order.account] = min(deadlines.values(), default=NEVER)

    def ids(self, account: str) -> frozenset[str]:
        return frozenset(self._deadlines.get(account, ()))

    def count(self, account: str) -> int:
        return len(self._deadlines.get(account, ()))

    def due(self, account: str, ts: int) -> list[str]:
        """Return the ids of the account's live orders whose deadline is at or before ``ts``."""
        if self._earliest.get(account, NEVER) > ts:
            return []
        return sorted(i for i, d in self._deadlines[account].items() if d <= ts)

    def rebuild(self, orders: Iterator[OrderLifecycle]) -> None:
        self._deadlines.clear()
        self._earliest.clear()
        for order in orders:
            self.update(order)


NEVER = 2**62
DAY_MS = 24 * 3600 * 1000


def session_end_offset_ms() -> int:
    """Return REDFIRE_SESSION_END_UTC as milliseconds after midnight UTC."""
    hours, minutes = settings.session_end_utc.split(":")
    return int(hours) * 3_600_000 + int(minutes) * 60_000


def next_session_end(ts: int) -> int:
    """Return the first session end strictly after ``ts``."""
    offset = session_end_offset_ms()
    return ts - (ts - offset) % DAY_MS + DAY_MS


def order_deadline(order: OrderLifecycle) -> int:
    """Return when a live order expires: IOC/FOK after the timeout, DAY at session end."""
    if order.order_type in (OrderType.IOC, OrderType.FOK):
        return order.ts_created + settings.ioc_timeout_ms
    if order.time_in_force == TimeInForce.DAY:
        return next_session_end(order.ts_created)
    return NEVER


position_index = PositionIndex()
live_orders = LiveOrders()


async def rebuild_position_index() -> None:
    """Rebuild the index from the positions table (after recovery or a rebalance)."""
    position_index.rebuild(iter(tables.positions.items()))


async def rebuild_live_orders() -> None:
    """Rebuild the live-order index from the orders_state table."""
    live_orders.rebuild(OrderLifecycle.from_dict(raw) for raw in tables.orders_state.values())


# Accounts with a record in the accounts table, so the monitor need not scan it.
known_accounts: set[str] = set()


async def rebuild_known_accounts() -> None:
    """Rebuild the set of known accounts from the accounts table."""
    known_accounts.clear()
    known_accounts.update(tables.accounts.keys())


tables.positions.on_recover(rebuild_position_index)
tables.orders_state.on_recover(rebuild_live_orders)
tables.accounts.on_recover(rebuild_known_accounts)


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
            for key, value in self.table.items()
            if _seen_ts(value) < horizon and owner_partition(key) == partition
        ]
        for key in stale:
            del self.table[key]
        return len(stale)


def _seen_ts(value: Any) -> float:
    """Return when a seen key was recorded (a number, or a dict with ``ts``)."""
    return float(value["ts"] if isinstance(value, dict) else value)


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
    known_accounts.add(state.account)


def get_position(account: str, symbol: str) -> Position:
    return get_position_and_offset(account, symbol)[0]


def get_position_and_offset(account: str, symbol: str) -> tuple[Position, int]:
    """Return a position and the offset of the last fill applied to it (-1: none)."""
    raw = tables.positions.get(tables.compound_key(account, symbol))
    if raw is None:
        return Position.flat(), -1
    return Position.from_dict(raw), int(raw.get(FILL_OFFSET, -1))


def put_position(account: str, symbol: str, position: Position, fill_offset: int = -1) -> None:
    """Store a position with the offset of the fill that made it (its watermark)."""
    value = {**position.to_dict(), FILL_OFFSET: fill_offset}
    tables.positions[tables.compound_key(account, symbol)] = value
    position_index.set(account, symbol, float(position.qty))


def positions_of(account: str) -> dict[str, Position]:
    """Return every position the account has held (flat ones included)."""
    return {symbol: get_position(account, symbol) for symbol in position_index.symbols(account)}


def get_order(account: str, order_id: str) -> OrderLifecycle | None:
    raw = tables.orders_state.get(tables.compound_key(account, order_id))
    return None if raw is None else OrderLifecycle.from_dict(raw)


def order_fill_offset(account: str, order_id: str) -> int:
    """Return the offset of the last fill applied to this order (-1: none)."""
    raw = tables.orders_state.get(tables.compound_key(account, order_id))
    return -1 if raw is None else int(raw.get(FILL_OFFSET, -1))


def put_order(order: OrderLifecycle, fill_offset: int | None = None) -> None:
    """Store an order's state, keeping (or moving) its fill watermark."""
    key = tables.compound_key(order.account, order.order_id)
    if fill_offset is None:
        fill_offset = order_fill_offset(order.account, order.order_id)
    tables.orders_state[key] = {**order.to_dict(), FILL_OFFSET: fill_offset}
    live_orders.update(order)


def last_price(symbol: str) -> PriceMark | None:
    """Return the symbol's last price mark (from the in-memory mirror)."""
    return mirrors.prices.get(symbol)


def get_bar(symbol: str) -> Bar | None:
    raw = tables.bars.get(symbol)
    return None if raw is None else Bar.from_dict(raw)


def get_window(symbol: str) -> ReturnWindow:
    """Return the symbol's return window (from the mirror: never older than our writes)."""
    mark = mirrors.windows.get(symbol)
    if mark is None:
        return ReturnWindow.empty(settings.var_window)
    return mark.window


def put_versioned(table: Any, mirror: Any, key: str, value: dict[str, Any]) -> None:
    """Write a global-table value with a version one above the current one."""
    current = mirror.get(key) or {}
    versioned = {**value, "_version": int(current.get("_version", 0)) + 1}
    table[key] = versioned
    mirror.set(key, versioned)


def firm_trading_state() -> TradingState:
    """Return the firm-wide trading state set by a HALT/RESUME with account ``*``."""
    raw = mirrors.limits.get(FIRM_STATE_KEY) or {}
    state: TradingState = raw.get("trading_state", "ACTIVE")
    return state


def effective_trading_state(account: AccountState) -> TradingState:
    """Return the stricter of the account's and the firm's trading state."""
    return stricter(account.trading_state, firm_trading_state())


def save_transition(result: Transitioned, fill_offset: int | None = None) -> None:
    """Store an order's new state and move its account's reservation with it.

    Reservations are held for buy orders: the cash a buy will spend.
    """
    put_order(result.order, fill_offset)
    change = result.reservation_change
    if change and result.order.side == "BUY":
        account = get_account(result.order.account)
        put_account(account.with_reservation_change(change))
