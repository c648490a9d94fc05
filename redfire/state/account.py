"""The account aggregate: everything a worker knows about one account it owns.

Cash per currency, equity marks and trading state (the ``accounts`` record), every
position with its T+1 state (one ``positions`` record each), the live orders (one
``orders_state`` record each, also indexed by symbol for T+1 and self-trade) with their
reservations and expiry deadlines, recent order flow, the cached VaR book and the
monitoring rules' states. The aggregate is the working copy; the tables are its durable
copy, written by the unit of work.

``base`` is the account's base currency (REDFIRE_ACCOUNT_BASE_CURRENCIES, else
REDFIRE_BASE_CURRENCY): equity, exposures, limits and VaR are in it. Cash in the base
currency is ``cash``; cash in other currencies is ``balances``.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from redfire.risk.live_backtest import LiveBacktest
from redfire.risk.market_rules import RestingOrder
from redfire.risk.positions import MONEY_CONTEXT, ZERO, Position
from redfire.risk.rules import RuleState
from redfire.risk.vocabulary import TradingState
from redfire.state.deadlines import DueIndex
from redfire.state.flow import AccountFlow
from redfire.state.records import AccountRecord, OrderRecord, PositionEntry

# The alerts an account keeps for GET /accounts/{a}/risk and its report (seed 002: the last 10).
RECENT_ALERTS = 10


class AccountAggregate:
    """One account, in memory, on the worker that owns its partition."""

    def __init__(self, name: str, partition: int, record: AccountRecord, base: str) -> None:
        self.name = name
        self.partition = partition
        self.base = base
        record.rebase(base)
        self.record = record
        self.positions: dict[str, PositionEntry] = {}
        # symbol → float qty of every non-flat position: what valuation and VaR read.
        self.quantities: dict[str, float] = {}
        self.live: dict[str, OrderRecord] = {}
        # symbol → order id → live order: the orders a new one could cross, or share T+1 with.
        self.live_by_symbol: dict[str, dict[str, OrderRecord]] = {}
        self.reserved = ZERO
        self._due = DueIndex()
        self.flow = AccountFlow()
        self.rule_states: dict[str, RuleState] = {}
        # The scheduled stress run: when it last ran and its worst loss (a rule metric).
        self.stress_run_ms = 0
        self.stress_loss: float | None = None
        # The live VaR/ES backtest (risk.live_backtest.LiveBacktest), built on first use.
        self.backtest: LiveBacktest | None = None
        # The VaR book cache (``redfire.state.books``) and snapshot bookkeeping.
        self.book: Any = None
        # Quantity moves in symbols the cached book holds, since it was built: the
        # book applies them (one O(T) update each) instead of being rebuilt.
        self.book_moves: list[tuple[str, float]] = []
        # (reference generation, held symbol → currency when not the base): pre-trade cache.
        self.foreign: tuple[int, dict[str, str]] | None = None
        self.changed = True
        self.published_ms: int | None = None
        self.last_snapshot: Any = None
        # The last alerts published for the account (RiskAlert records, oldest first). In
        # memory only: a restart or a rebalance starts it empty (the topic keeps them all).
        self.recent_alerts: deque[Any] = deque(maxlen=RECENT_ALERTS)
        # Live-order counts and buying power as of the last snapshot, for the firm stage.
        self.order_summary: dict[str, float] | None = None

    # ---------------------------------------------------------------- account

    @property
    def cash(self) -> Decimal:
        return self.record.cash

    @property
    def balances(self) -> dict[str, Decimal]:
        """Return cash held in currencies other than the base currency."""
        return self.record.balances

    def cash_by_currency(self) -> dict[str, float]:
        """Return every cash balance, the base currency's included, in its own currency."""
        cash = {self.base: float(self.record.cash)}
        for currency, amount in self.record.balances.items():
            cash[currency] = float(amount)
        return cash

    def add_cash(self, currency: str, delta: Decimal) -> None:
        """Move the cash held in ``currency`` by ``delta``."""
        record = self.record
        if currency == self.base:
            record.cash = MONEY_CONTEXT.add(record.cash, delta)
            return
        held = record.balances.get(currency, ZERO)
        record.balances[currency] = MONEY_CONTEXT.add(held, delta)
        self.drop_book()  # foreign cash is a VaR holding (its rate's returns)

    def set_cash(self, currency: str, amount: Decimal) -> None:
        """Set the cash held in ``currency`` (the back office's figure)."""
        if currency == self.base:
            self.record.cash = amount
            return
        self.record.balances[currency] = amount
        self.drop_book()

    @property
    def trading_state(self) -> TradingState:
        return self.record.trading_state

    def touch(self) -> None:
        """Mark the account changed: its next snapshot is due at the next monitor pass."""
        self.changed = True

    # -------------------------------------------------------------- positions

    def position(self, symbol: str) -> PositionEntry:
        entry = self.positions.get(symbol)
        return entry if entry is not None else PositionEntry(Position.flat())

    def set_position(self, symbol: str, entry: PositionEntry) -> None:
        self.positions[symbol] = entry
        qty = float(entry.position.qty)
        held = self.quantities.get(symbol, 0.0)
        if qty == 0.0:
            self.quantities.pop(symbol, None)
        else:
            self.quantities[symbol] = qty
        if qty != 0.0 and self.book is not None:
            self.book_moves.append((symbol, qty - held))  # a move, or an open (held 0)
        else:
            self.drop_book()
        if (held == 0.0) != (qty == 0.0):
            # The held symbols changed, so may the foreign ones. A fill that only moves a
            # holding keeps the cache: each order after a fill rebuilt it otherwise.
            self.foreign = None

    def drop_book(self) -> None:
        """Have the VaR book rebuilt at its next use."""
        self.book = None
        self.book_moves.clear()

    def qty(self, symbol: str) -> float:
        return self.quantities.get(symbol, 0.0)

    # ----------------------------------------------------------------- orders

    def put_order(self, record: OrderRecord) -> None:
        """Hold ``record`` if it is live, forget it otherwise; keep reservations in step."""
        if record.order is None:
            return
        order_id = record.order.order_id
        before = self.live.pop(order_id, None)
        if before is not None:
            self.reserved = MONEY_CONTEXT.subtract(self.reserved, before.reserved)
            self._unindex(before, order_id)
            self._due.remove(before.deadline, order_id)
        if record.is_live:
            self.live[order_id] = record
            self.live_by_symbol.setdefault(record.order.symbol, {})[order_id] = record
            self.reserved = MONEY_CONTEXT.add(self.reserved, record.reserved)
            self._due.add(record.deadline, order_id)
        if self.reserved < ZERO:
            self.reserved = ZERO

    def _unindex(self, record: OrderRecord, order_id: str) -> None:
        if record.order is None:
            return
        symbol = record.order.symbol
        orders = self.live_by_symbol.get(symbol)
        if orders is not None:
            orders.pop(order_id, None)
            if not orders:
                del self.live_by_symbol[symbol]

    def open_qty(self, symbol: str, side: str, excluding: str | None = None) -> float:
        """Return the unfilled quantity of the live ``side`` orders in ``symbol``."""
        orders = self.live_by_symbol.get(symbol)
        if not orders:
            return 0.0
        total = 0.0
        for order_id, record in orders.items():
            order = record.order
            if order is not None and order.side == side and order_id != excluding:
                total += float(order.qty - order.filled_qty)
        return total

    def resting_orders(self, symbol: str, side: str, excluding: str) -> tuple[RestingOrder, ...]:
        """Return the live orders in ``symbol`` on the other side of ``side`` (self-trade)."""
        orders = self.live_by_symbol.get(symbol)
        if not orders:
            return ()
        resting = []
        for order_id, record in orders.items():
            order = record.order
            if order is None or order.side == side or order_id == excluding:
                continue
            price = None if order.price is None else float(order.price)
            leaves = float(order.qty - order.filled_qty)
            resting.append(RestingOrder(order_id, self.name, order.side, price, leaves))
        return tuple(resting)

    def due_orders(self, ts: int) -> list[OrderRecord]:
        """Return the live orders whose deadline is at or before ``ts`` (O(1) if none)."""
        return [self.live[order_id] for order_id in self._due.due(ts)]

    # --------------------------------------------------------------- durable

    def account_value(self) -> dict[str, Any]:
        return self.record.to_dict(self.name)

    def position_value(self, symbol: str) -> dict[str, Any]:
        return self.position(symbol).to_dict()
