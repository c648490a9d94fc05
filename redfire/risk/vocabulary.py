"""RedFire's words, each spelled once: sides, order kinds, trading states, keys.

Every other module imports these names instead of repeating the strings. They
are plain strings on the wire (JSON and Avro enums), so they are ``Literal``
aliases with a frozenset of the valid values beside each.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

Side: TypeAlias = Literal["BUY", "SELL"]
BUY: Final = "BUY"
SELL: Final = "SELL"
SIDES: Final = frozenset({BUY, SELL})

OrderType: TypeAlias = Literal["LIMIT", "MARKET", "IOC", "FOK"]
ORDER_TYPES: Final = frozenset({"LIMIT", "MARKET", "IOC", "FOK"})
IMMEDIATE_ORDER_TYPES: Final = frozenset({"IOC", "FOK"})

OrderAction: TypeAlias = Literal["NEW", "CANCEL", "REPLACE"]
NEW: Final = "NEW"
CANCEL: Final = "CANCEL"
REPLACE: Final = "REPLACE"
ORDER_ACTIONS: Final = frozenset({NEW, CANCEL, REPLACE})

TimeInForce: TypeAlias = Literal["DAY", "GTC"]
TIMES_IN_FORCE: Final = frozenset({"DAY", "GTC"})

DecisionValue: TypeAlias = Literal["APPROVED", "REJECTED"]
APPROVED: Final = "APPROVED"
REJECTED: Final = "REJECTED"

TradingState: TypeAlias = Literal["ACTIVE", "REDUCE_ONLY", "HALTED"]
ACTIVE: Final = "ACTIVE"
REDUCE_ONLY: Final = "REDUCE_ONLY"
HALTED: Final = "HALTED"
# How restrictive a state is: the stricter of an account's and the firm's state wins.
STATE_RANK: Final[dict[str, int]] = {ACTIVE: 0, REDUCE_ONLY: 1, HALTED: 2}
TRADING_STATES: Final = frozenset(STATE_RANK)

Severity: TypeAlias = Literal["INFO", "WARNING", "CRITICAL"]
SEVERITIES: Final = ("INFO", "WARNING", "CRITICAL")

AlertState: TypeAlias = Literal["FIRING", "RESOLVED"]
FIRING: Final = "FIRING"
RESOLVED: Final = "RESOLVED"

VaRMethodName: TypeAlias = Literal["historical", "parametric", "ewma", "fhs", "montecarlo"]

# The key of account-scoped commands that apply to every account (and of the
# default limits), and the key of firm-wide snapshots, alerts and rule states.
ALL_ACCOUNTS: Final = "*"
FIRM: Final = "FIRM"


def stricter(first: TradingState, second: TradingState) -> TradingState:
    """Return the more restrictive of two trading states."""
    return first if STATE_RANK[first] >= STATE_RANK[second] else second


def signed(side: str, qty: float) -> float:
    """Return ``qty`` with the sign of ``side``: positive buys, negative sells."""
    return qty if side == BUY else -qty
