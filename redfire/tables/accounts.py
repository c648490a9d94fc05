"""Account state stored in the ``accounts`` table, and how it reads back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from redfire.risk.positions import MONEY_CONTEXT, ZERO, to_decimal

TradingState = Literal["ACTIVE", "REDUCE_ONLY", "HALTED"]
STATE_RANK: dict[str, int] = {"ACTIVE": 0, "REDUCE_ONLY": 1, "HALTED": 2}
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class AccountState:
    """Cash, reservations, equity marks and trading state of one account."""

    account: str
    cash: Decimal
    reserved: Decimal = ZERO
    trading_state: TradingState = "ACTIVE"
    equity_high: float | None = None
    day_start_equity: float | None = None
    day: int | None = None
    fill_offset: int = -1

    @classmethod
    def opening(cls, account: str, cash: float) -> AccountState:
        """Return a new account holding ``cash`` (REDFIRE_DEFAULT_CASH)."""
        return cls(account=account, cash=to_decimal(cash))

    def with_fill(self, cash_delta: Decimal, fill_offset: int) -> AccountState:
        """Return the account after a fill moved its cash; remember the fill's offset."""
        cash = MONEY_CONTEXT.add(self.cash, cash_delta)
        return replace(self, cash=cash, fill_offset=fill_offset)

    def with_reservation_change(self, change: Decimal) -> AccountState:
        """Return the account after reserved buying power moved; never below zero."""
        return replace(self, reserved=max(ZERO, MONEY_CONTEXT.add(self.reserved, change)))

    def with_equity_mark(self, equity: float, ts: int) -> AccountState:
        """Return the account with its high-water mark and day-start equity updated."""
        day = ts // DAY_MS
        day_start = self.day_start_equity if self.day == day else equity
        high = equity if self.equity_high is None else max(self.equity_high, equity)
        return replace(self, equity_high=high, day_start_equity=day_start, day=day)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly fields (decimals as strings)."""
        return {
            "account": self.account,
            "cash": str(self.cash),
            "reserved": str(self.reserved),
            "trading_state": self.trading_state,
            "equity_high": self.equity_high,
            "day_start_equity": self.day_start_equity,
            "day": self.day,
            "fill_offset": self.fill_offset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountState:
        """Build the state from ``to_dict`` output."""
        state = data.get("trading_state", "ACTIVE")
        if state not in STATE_RANK:
            raise ValueError(f"unknown trading state {state!r}")
        return cls(
            account=str(data["account"]),
            cash=to_decimal(data["cash"]),
            reserved=to_decimal(data.get("reserved", "0")),
            trading_state=state,
            equity_high=data.get("equity_high"),
            day_start_equity=data.get("day_start_equity"),
            day=data.get("day"),
            fill_offset=int(data.get("fill_offset", -1)),
        )


def stricter(first: TradingState, second: TradingState) -> TradingState:
    """Return the more restrictive of two trading states."""
    return first if STATE_RANK[first] >= STATE_RANK[second] else second
