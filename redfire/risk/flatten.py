"""FLATTEN, the emergency stop's last step (seed 002): close every open position.

Pure: positions in, closing order requests out. RedFire decides and the gateway executes,
so the orders go to ``emergency_orders`` as OrderRequest records (the field names here are
OrderRequest's: ``OrderRequest(**dataclasses.asdict(order))``). Each order id is derived
from the command id, the account and the symbol, so a redelivered or repeated command yields
the very same requests, which the gateway and the order lifecycle deduplicate by order id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

FLAT_TOLERANCE: Final = 1e-9  # positions are exact decimals; floats may carry residue
MAX_ID_LENGTH: Final = 256  # the codec's limit on id fields
STRATEGY: Final = "FLATTEN"


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """A position to close: signed quantity (short < 0)."""

    symbol: str
    qty: float


@dataclass(frozen=True, slots=True)
class ClosingOrder:
    """One closing MARKET order request, with OrderRequest's field names."""

    order_id: str
    account: str
    symbol: str
    side: Literal["BUY", "SELL"]
    qty: float
    ts: int
    price: None = None
    order_type: Literal["MARKET"] = "MARKET"
    action: Literal["NEW"] = "NEW"
    strategy: str = STRATEGY


def closing_order_id(command_id: str, account: str, symbol: str) -> str:
    """Return the deterministic id of the order that closes ``symbol`` for a command."""
    plain = f"flatten-{command_id}-{account}-{symbol}"
    if len(plain) <= MAX_ID_LENGTH:
        return plain
    digest = hashlib.sha256(plain.encode()).hexdigest()[:32]
    return f"flatten-{digest}"


def closing_orders(
    command_id: str, account: str, positions: Iterable[HeldPosition], ts: int
) -> list[ClosingOrder]:
    """Return one MARKET order per non-flat position: opposite side, exact size, by symbol."""
    if not command_id:
        raise ValueError("FLATTEN needs a command id: the order ids are derived from it")
    held = sorted(positions, key=lambda p: p.symbol)
    symbols = [p.symbol for p in held]
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"one position per symbol expected, got {symbols}")
    orders = []
    for position in held:
        if abs(position.qty) <= FLAT_TOLERANCE:
            continue
        orders.append(
            ClosingOrder(
                order_id=closing_order_id(command_id, account, position.symbol),
                account=account,
                symbol=position.symbol,
                side="SELL" if position.qty > 0 else "BUY",
                qty=abs(position.qty),
                ts=ts,
            )
        )
    return orders
