"""The durable records of account state: how each is written and read back.

Every record that a fill changes carries the fills-partition offset of the
last fill applied to it (its *watermark*), and the account record also carries
the offset of the last command applied. Tables restored after a crash may be
at different points; watermarks let a redelivered fill or command be applied
to exactly the records that lack it, so nothing is lost or counted twice.

One record per order holds everything about it: the request's decision (its
seen-marker, re-sent when the request is redelivered), its lifecycle and its
reservation — one write, not three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from redfire.risk.lifecycle import LIVE_STATUSES, OrderLifecycle
from redfire.risk.positions import MONEY_CONTEXT, ZERO, Position, to_decimal
from redfire.risk.settlement import DayPosition
from redfire.risk.vocabulary import ACTIVE, STATE_RANK, TradingState

FILL_OFFSET = "fill_offset"
NO_OFFSET = -1
ONE = Decimal(1)


@dataclass(slots=True)
class AccountRecord:
    """The account's own fields: cash, trading state, equity marks, watermarks.

    ``cash`` is held in ``currency`` (the account's base currency when it was written; None in
    records older than currencies, which hold the base currency) and ``balances`` holds cash in
    every other currency (fills move cash in the instrument's currency).
    """

    cash: Decimal
    trading_state: TradingState = ACTIVE
    equity_high: float | None = None
    day_start_equity: float | None = None
    day: int | None = None
    fill_offset: int = NO_OFFSET
    command_offset: int = NO_OFFSET
    currency: str | None = None
    balances: dict[str, Decimal] = field(default_factory=dict)

    def to_dict(self, account: str) -> dict[str, Any]:
        return {
            "account": account,
            "cash": str(self.cash),
            "currency": self.currency,
            "balances": {currency: str(amount) for currency, amount in self.balances.items()},
            "trading_state": self.trading_state,
            "equity_high": self.equity_high,
            "day_start_equity": self.day_start_equity,
            "day": self.day,
            FILL_OFFSET: self.fill_offset,
            "command_offset": self.command_offset,
        }

    def rebase(self, base: str) -> None:
        """Hold ``cash`` in ``base``: a balance in another currency moves to ``balances``.

        An account's base currency is configuration; when it changes, the cash held in the
        old base stays in that currency instead of being relabelled.
        """
        if self.currency == base:
            return
        if self.currency is not None:
            if self.cash != ZERO:
                held = self.balances.get(self.currency, ZERO)
                self.balances[self.currency] = MONEY_CONTEXT.add(held, self.cash)
            self.cash = self.balances.pop(base, ZERO)
        self.currency = base

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountRecord:
        state = data.get("trading_state", ACTIVE)
        if state not in STATE_RANK:
            raise ValueError(f"unknown trading state {state!r}")
        return cls(
            cash=to_decimal(data["cash"]),
            trading_state=state,
            equity_high=data.get("equity_high"),
            day_start_equity=data.get("day_start_equity"),
            day=data.get("day"),
            fill_offset=int(data.get(FILL_OFFSET, NO_OFFSET)),
            command_offset=int(data.get("command_offset", NO_OFFSET)),
            currency=data.get("currency"),
            balances={c: to_decimal(a) for c, a in (data.get("balances") or {}).items()},
        )


@dataclass(slots=True)
class PositionEntry:
    """One (account, symbol) position, the watermark of the last fill applied to it, and
    its T+1 state (``day``: start-of-day quantity and today's sells) for T+1 instruments."""

    position: Position
    fill_offset: int = NO_OFFSET
    day: DayPosition | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {**self.position.to_dict(), FILL_OFFSET: self.fill_offset}
        if self.day is not None:
            body["t1"] = self.day.to_dict()
        return body

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PositionEntry:
        day = data.get("t1")
        return cls(
            Position.from_dict(data),
            int(data.get(FILL_OFFSET, NO_OFFSET)),
            None if day is None else DayPosition.from_dict(day),
        )


# How many requests of one order (its NEW and the latest REPLACEs) keep their
# decision for redelivery; the NEW's is never forgotten.
REMEMBERED_REQUESTS = 8


@dataclass(slots=True)
class OrderRecord:
    """One order: its lifecycle, fill watermark and the decisions of its requests.

    ``decisions`` maps a request's ``ts`` to the decision it got, the NEW first:
    a request redelivered with the same ``ts`` gets that decision again instead
    of a second, possibly different, one. ``order`` is None for a rejected NEW.
    """

    order: OrderLifecycle | None
    decisions: dict[int, dict[str, Any]]
    fill_offset: int = NO_OFFSET
    deadline: int = 2**62
    # Instrument currency → the account's base currency at approval: the reservation is
    # held in the base currency at this rate until the order ends (0 when there was no rate
    # and check_fx_rate is off: the buying-power check was skipped, nothing is reserved).
    fx_rate: Decimal = ONE

    @property
    def is_live(self) -> bool:
        return self.order is not None and self.order.status in LIVE_STATUSES

    @property
    def reserved(self) -> Decimal:
        """Return the buying power this order holds (base currency): live buy orders only."""
        order = self.order
        if order is None or order.side != "BUY" or order.status not in LIVE_STATUSES:
            return ZERO
        if self.fx_rate == ONE:
            return order.reserved
        return MONEY_CONTEXT.multiply(order.reserved, self.fx_rate)

    def decision_of(self, request_ts: int) -> dict[str, Any] | None:
        """Return the decision a request with this ``ts`` got, if remembered."""
        return self.decisions.get(request_ts)

    def with_decision(self, request_ts: int, decision: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Return the decisions with one more, the oldest REPLACEs forgotten first."""
        decisions = {**self.decisions, request_ts: decision}
        while len(decisions) > REMEMBERED_REQUESTS:
            del decisions[list(decisions)[1]]
        return decisions

    def to_dict(self) -> dict[str, Any]:
        body = {} if self.order is None else self.order.to_dict()
        body["decisions"] = [[ts, decision] for ts, decision in self.decisions.items()]
        body[FILL_OFFSET] = self.fill_offset
        if self.fx_rate != ONE:
            body["fx_rate"] = str(self.fx_rate)
        return body

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderRecord:
        order = OrderLifecycle.from_dict(data) if "status" in data else None
        return cls(
            order=order,
            decisions={int(ts): dict(decision) for ts, decision in data.get("decisions", ())},
            fill_offset=int(data.get(FILL_OFFSET, NO_OFFSET)),
            fx_rate=to_decimal(data.get("fx_rate", 1)),
        )


# Both spellings: RedFire writes compact JSON, faust's serializer puts a space.
LIVE_MARKERS = tuple(
    f'"status":{gap}"{status.value}"'.encode() for status in LIVE_STATUSES for gap in ("", " ")
)


def is_live_record(raw: bytes) -> bool:
    """Return True when a stored order record's bytes show a live status (no decode)."""
    return any(marker in raw for marker in LIVE_MARKERS)
