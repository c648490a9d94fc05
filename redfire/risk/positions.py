"""Position arithmetic in exact decimal money.

Realized PnL is kept *gross* of fees: `Position.realized_pnl` sums the price
moves on closed quantity only, `Position.fees` sums the fees paid, and
`Position.net_realized_pnl` is their difference. Cash moves by the full
notional of every fill minus its fee.

All arithmetic runs in `MONEY_CONTEXT` (34 significant digits), passed
explicitly, so the caller's thread-local decimal context never matters.
Sums and products of fill data are exact; only the average cost after an
increase is a division, rounded at the 34th digit, far below a cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

MONEY_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
ZERO = Decimal(0)
BUY = "BUY"
SELL = "SELL"
SIDES = frozenset({BUY, SELL})

DecimalLike = Decimal | float | int | str


def to_decimal(value: DecimalLike) -> Decimal:
    """Convert a number to a finite Decimal; floats go through str so 12.34 stays 12.34."""
    if isinstance(value, bool):
        raise TypeError("to_decimal takes a number, not a bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = _parse_decimal(value)
    else:
        raise TypeError(f"to_decimal takes Decimal, float, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def _parse_decimal(text: str) -> Decimal:
    try:
        return MONEY_CONTEXT.create_decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None


@dataclass(frozen=True, slots=True)
class Position:
    """Hold one (account, symbol) position: signed qty, average cost, realized PnL, fees."""

    qty: Decimal
    avg_cost: Decimal
    realized_pnl: Decimal
    fees: Decimal

    @classmethod
    def flat(cls) -> Position:
        """Return an empty position with no history."""
        return cls(qty=ZERO, avg_cost=ZERO, realized_pnl=ZERO, fees=ZERO)

    @property
    def net_realized_pnl(self) -> Decimal:
        """Return realized PnL after fees."""
        return MONEY_CONTEXT.subtract(self.realized_pnl, self.fees)

    @property
    def is_flat(self) -> bool:
        """Return True when no quantity is held."""
        return self.qty == ZERO

    def to_dict(self) -> dict[str, str]:
        """Return JSON-friendly fields; decimals as strings so no digit is lost."""
        return {
            "qty": str(self.qty),
            "avg_cost": str(self.avg_cost),
            "realized_pnl": str(self.realized_pnl),
            "fees": str(self.fees),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, DecimalLike]) -> Position:
        """Build a position from `to_dict` output (numbers are accepted too)."""
        return cls(
            qty=to_decimal(data["qty"]),
            avg_cost=to_decimal(data["avg_cost"]),
            realized_pnl=to_decimal(data["realized_pnl"]),
            fees=to_decimal(data["fees"]),
        )


@dataclass(frozen=True, slots=True)
class FillEffect:
    """Hold what one fill did: the new position, its realized PnL and its cash move.

    `realized` excludes the fee; `cash_delta` includes it
    (−qty·price − fee for a buy, +qty·price − fee for a sell).
    """

    position: Position
    realized: Decimal
    cash_delta: Decimal


def apply_fill(
    position: Position,
    side: str,
    qty: DecimalLike,
    price: DecimalLike,
    fee: DecimalLike = ZERO,
) -> FillEffect:
    """Apply one execution to a position.

    Increases move the average cost; reductions realize PnL against it; a fill
    that crosses zero closes the old side at the average cost and opens the
    remainder at the fill price. A negative fee is a rebate.
    """
    fill_qty, fill_price, fill_fee = _checked_fill(side, qty, price, fee)
    signed_qty = fill_qty if side == BUY else fill_qty.copy_negate()
    old_qty = position.qty
    new_qty = MONEY_CONTEXT.add(old_qty, signed_qty)
    closed_qty = _closed_qty(old_qty, signed_qty)
    realized = _realized(position, closed_qty, fill_price)
    new_position = Position(
        qty=new_qty,
        avg_cost=_new_avg_cost(position, signed_qty, new_qty, fill_price),
        realized_pnl=MONEY_CONTEXT.add(position.realized_pnl, realized),
        fees=MONEY_CONTEXT.add(position.fees, fill_fee),
    )
    return FillEffect(
        position=new_position,
        realized=realized,
        cash_delta=_cash_delta(side, fill_qty, fill_price, fill_fee),
    )


def unrealized_pnl(position: Position, price: DecimalLike) -> Decimal:
    """Return the PnL of the open quantity marked at `price` (positive when it gains)."""
    move = MONEY_CONTEXT.subtract(to_decimal(price), position.avg_cost)
    return MONEY_CONTEXT.multiply(move, position.qty)


def market_value(position: Position, price: DecimalLike) -> Decimal:
    """Return signed qty × price (negative for shorts)."""
    return MONEY_CONTEXT.multiply(position.qty, to_decimal(price))


def _checked_fill(
    side: str, qty: DecimalLike, price: DecimalLike, fee: DecimalLike
) -> tuple[Decimal, Decimal, Decimal]:
    if side not in SIDES:
        raise ValueError(f"side must be BUY or SELL, got {side!r}")
    fill_qty, fill_price, fill_fee = to_decimal(qty), to_decimal(price), to_decimal(fee)
    if fill_qty <= ZERO:
        raise ValueError(f"fill qty must be positive, got {fill_qty}")
    if fill_price <= ZERO:
        raise ValueError(f"fill price must be positive, got {fill_price}")
    return fill_qty, fill_price, fill_fee


def _closed_qty(old_qty: Decimal, signed_qty: Decimal) -> Decimal:
    """Return how much of the old position this fill closes (a magnitude)."""
    if old_qty == ZERO or (old_qty > ZERO) == (signed_qty > ZERO):
        return ZERO
    return min(old_qty.copy_abs(), signed_qty.copy_abs())


def _realized(position: Position, closed_qty: Decimal, price: Decimal) -> Decimal:
    if closed_qty == ZERO:
        return ZERO
    if position.qty > ZERO:
        move = MONEY_CONTEXT.subtract(price, position.avg_cost)
    else:
        move = MONEY_CONTEXT.subtract(position.avg_cost, price)
    return MONEY_CONTEXT.multiply(move, closed_qty)


def _new_avg_cost(
    position: Position, signed_qty: Decimal, new_qty: Decimal, price: Decimal
) -> Decimal:
    old_qty = position.qty
    if new_qty == ZERO:
        return ZERO
    if old_qty == ZERO or (new_qty > ZERO) != (old_qty > ZERO):
        return price
    if (signed_qty > ZERO) != (old_qty > ZERO):
        return position.avg_cost
    old_cost = MONEY_CONTEXT.multiply(old_qty.copy_abs(), position.avg_cost)
    added_cost = MONEY_CONTEXT.multiply(signed_qty.copy_abs(), price)
    total_cost = MONEY_CONTEXT.add(old_cost, added_cost)
    return MONEY_CONTEXT.divide(total_cost, new_qty.copy_abs())


def _cash_delta(side: str, qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    notional = MONEY_CONTEXT.multiply(qty, price)
    if side == BUY:
        notional = notional.copy_negate()
    return MONEY_CONTEXT.subtract(notional, fee)
