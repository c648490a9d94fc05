"""Order lifecycle state machine (the states of seed 002, DESIGN §5).

CREATED → VALIDATED → APPROVED → OPEN → PARTIALLY_FILLED → FILLED, with
REJECTED, CANCELLED, EXPIRED and FAILED as the other terminal states.
`TRANSITIONS` is the whole table; `transition` applies one event and returns
either `Transitioned` (the new frozen state) or `IllegalTransition` (a refusal
value the caller counts). Nothing is ever applied half-way.

Quantities and money are `Decimal` so partial fills sum exactly.
`reserved` is the open notional of a live order (APPROVED, OPEN,
PARTIALLY_FILLED): remaining qty × limit price, or × the reference price given
at approval for orders without a limit price. It is zero in every other status.
The caller decides which sides count against buying power.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from redfire.risk.positions import MONEY_CONTEXT, SIDES, ZERO, DecimalLike, to_decimal


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    VALIDATED = "VALIDATED"
    APPROVED = "APPROVED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


class OrderEvent(StrEnum):
    VALIDATE = "VALIDATE"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    FILL = "FILL"
    REPLACE = "REPLACE"
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"
    FAIL = "FAIL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    IOC = "IOC"
    FOK = "FOK"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"


class Refusal(StrEnum):
    """Say why a transition was refused (a bounded label for metrics)."""

    TERMINAL = "TERMINAL"
    NOT_ALLOWED = "NOT_ALLOWED"
    OVERFILL = "OVERFILL"
    FOK_PARTIAL_FILL = "FOK_PARTIAL_FILL"
    BAD_QUANTITY = "BAD_QUANTITY"
    BAD_PRICE = "BAD_PRICE"
    MISSING_PRICE = "MISSING_PRICE"
    NOT_IMMEDIATE = "NOT_IMMEDIATE"


_S = OrderStatus
_E = OrderEvent

TERMINAL_STATUSES = frozenset({_S.FILLED, _S.REJECTED, _S.CANCELLED, _S.EXPIRED, _S.FAILED})
LIVE_STATUSES = frozenset({_S.APPROVED, _S.OPEN, _S.PARTIALLY_FILLED})
IMMEDIATE_TYPES = frozenset({OrderType.IOC, OrderType.FOK})

_FILL_TARGETS = frozenset({_S.PARTIALLY_FILLED, _S.FILLED})

TRANSITIONS: Mapping[tuple[OrderStatus, OrderEvent], frozenset[OrderStatus]] = MappingProxyType(
    {
        (_S.CREATED, _E.VALIDATE): frozenset({_S.VALIDATED}),
        (_S.CREATED, _E.REJECT): frozenset({_S.REJECTED}),
        (_S.CREATED, _E.FAIL): frozenset({_S.FAILED}),
        (_S.VALIDATED, _E.APPROVE): frozenset({_S.APPROVED}),
        (_S.VALIDATED, _E.REJECT): frozenset({_S.REJECTED}),
        (_S.VALIDATED, _E.FAIL): frozenset({_S.FAILED}),
        (_S.APPROVED, _E.ACKNOWLEDGE): frozenset({_S.OPEN}),
        # A venue may still refuse or fail an order we approved.
        (_S.APPROVED, _E.REJECT): frozenset({_S.REJECTED}),
        (_S.APPROVED, _E.FAIL): frozenset({_S.FAILED}),
        # The gateway is the source of truth: a fill may beat the acknowledgement.
        (_S.APPROVED, _E.FILL): _FILL_TARGETS,
        (_S.APPROVED, _E.REPLACE): frozenset({_S.APPROVED}),
        (_S.APPROVED, _E.CANCEL): frozenset({_S.CANCELLED}),
        (_S.APPROVED, _E.EXPIRE): frozenset({_S.EXPIRED}),
        (_S.OPEN, _E.FILL): _FILL_TARGETS,
        (_S.OPEN, _E.REPLACE): frozenset({_S.OPEN}),
        (_S.OPEN, _E.CANCEL): frozenset({_S.CANCELLED}),
        (_S.OPEN, _E.EXPIRE): frozenset({_S.EXPIRED}),
        (_S.PARTIALLY_FILLED, _E.FILL): _FILL_TARGETS,
        # Replacing down to exactly the filled qty completes the order.
        (_S.PARTIALLY_FILLED, _E.REPLACE): _FILL_TARGETS,
        (_S.PARTIALLY_FILLED, _E.CANCEL): frozenset({_S.CANCELLED}),
        (_S.PARTIALLY_FILLED, _E.EXPIRE): frozenset({_S.EXPIRED}),
    }
)

# The status an event asks for, used to describe refusals.
_EVENT_TARGET: Mapping[OrderEvent, OrderStatus] = MappingProxyType(
    {
        _E.VALIDATE: _S.VALIDATED,
        _E.APPROVE: _S.APPROVED,
        _E.REJECT: _S.REJECTED,
        _E.ACKNOWLEDGE: _S.OPEN,
        _E.CANCEL: _S.CANCELLED,
        _E.EXPIRE: _S.EXPIRED,
        _E.FAIL: _S.FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class OrderLifecycle:
    """Hold one order's state; every change makes a new value."""

    order_id: str
    account: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    order_type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: Decimal
    reserved: Decimal
    ts_created: int
    ts_updated: int
    reference_price: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-friendly fields; decimals as strings, enums as their names."""
        return {
            "order_id": self.order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "qty": str(self.qty),
            "price": _optional_str(self.price),
            "order_type": self.order_type.value,
            "time_in_force": self.time_in_force.value,
            "status": self.status.value,
            "filled_qty": str(self.filled_qty),
            "reserved": str(self.reserved),
            "ts_created": self.ts_created,
            "ts_updated": self.ts_updated,
            "reference_price": _optional_str(self.reference_price),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderLifecycle:
        """Build an order from `to_dict` output."""
        return cls(
            order_id=str(data["order_id"]),
            account=str(data["account"]),
            symbol=str(data["symbol"]),
            side=str(data["side"]),
            qty=to_decimal(data["qty"]),
            price=_optional_decimal(data.get("price")),
            order_type=OrderType(data["order_type"]),
            time_in_force=TimeInForce(data.get("time_in_force", TimeInForce.DAY)),
            status=OrderStatus(data["status"]),
            filled_qty=to_decimal(data["filled_qty"]),
            reserved=to_decimal(data["reserved"]),
            ts_created=int(data["ts_created"]),
            ts_updated=int(data["ts_updated"]),
            reference_price=_optional_decimal(data.get("reference_price")),
        )


@dataclass(frozen=True, slots=True)
class Transitioned:
    """Report an applied event: the new state and the one it replaced."""

    order: OrderLifecycle
    previous: OrderLifecycle
    event: OrderEvent

    @property
    def reservation_change(self) -> Decimal:
        """Return how much buying-power reservation moved (negative = released)."""
        return MONEY_CONTEXT.subtract(self.order.reserved, self.previous.reserved)


@dataclass(frozen=True, slots=True)
class IllegalTransition:
    """Report a refused event; the order is unchanged."""

    order_id: str
    from_status: OrderStatus
    to_status: OrderStatus | None
    event: OrderEvent
    reason: Refusal
    message: str


TransitionResult = Transitioned | IllegalTransition


def new_order(
    order_id: str,
    account: str,
    symbol: str,
    side: str,
    qty: DecimalLike,
    price: DecimalLike | None,
    order_type: OrderType | str,
    ts: int,
    time_in_force: TimeInForce | str = TimeInForce.DAY,
) -> OrderLifecycle:
    """Create an order in CREATED from an already-decoded request.

    Raise ValueError for input the codec should have rejected: a bad side or
    order type, a non-positive qty or price, a LIMIT order without a price.
    MARKET, IOC and FOK orders may come without a price (marketable).
    """
    kind = OrderType(order_type)
    order_qty = to_decimal(qty)
    limit_price = None if price is None else to_decimal(price)
    if side not in SIDES:
        raise ValueError(f"side must be BUY or SELL, got {side!r}")
    if order_qty <= ZERO:
        raise ValueError(f"order qty must be positive, got {order_qty}")
    if limit_price is not None and limit_price <= ZERO:
        raise ValueError(f"order price must be positive, got {limit_price}")
    if kind is OrderType.LIMIT and limit_price is None:
        raise ValueError("a LIMIT order needs a price")
    return OrderLifecycle(
        order_id=order_id,
        account=account,
        symbol=symbol,
        side=side,
        qty=order_qty,
        price=limit_price,
        order_type=kind,
        time_in_force=TimeInForce(time_in_force),
        status=OrderStatus.CREATED,
        filled_qty=ZERO,
        reserved=ZERO,
        ts_created=ts,
        ts_updated=ts,
    )


def transition(
    order: OrderLifecycle,
    event: OrderEvent,
    ts: int,
    *,
    qty: DecimalLike | None = None,
    price: DecimalLike | None = None,
) -> TransitionResult:
    """Apply one event to an order, or say why it cannot be applied.

    `qty` is the fill qty for FILL and the new order qty for REPLACE. `price`
    is the reference price for APPROVE (needed when the order has no limit
    price) and the new limit price for REPLACE.
    """
    if (order.status, event) not in TRANSITIONS:
        return _refuse_not_allowed(order, event, qty)
    handler = _HANDLERS.get(event, _move)
    amount = None if qty is None else to_decimal(qty)
    money = None if price is None else to_decimal(price)
    return handler(order, event, ts, amount, money)


def allowed_events(status: OrderStatus) -> frozenset[OrderEvent]:
    """Return the events the table accepts in `status`."""
    return frozenset(event for (source, event) in TRANSITIONS if source is status)


def decide(
    order: OrderLifecycle,
    approved: bool,
    ts: int,
    reference_price: DecimalLike | None = None,
) -> TransitionResult:
    """Record the pre-trade decision, validating a CREATED order first."""
    current = order
    if order.status is OrderStatus.CREATED:
        validated = transition(order, OrderEvent.VALIDATE, ts)
        if isinstance(validated, IllegalTransition):
            return validated
        current = validated.order
    event = OrderEvent.APPROVE if approved else OrderEvent.REJECT
    result = transition(current, event, ts, price=reference_price)
    if isinstance(result, Transitioned):
        return Transitioned(result.order, order, result.event)
    return result


def open_after_approval(order: OrderLifecycle, ts: int) -> TransitionResult:
    """Move an APPROVED order to OPEN; we have no venue ack, so approval stands for it."""
    return transition(order, OrderEvent.ACKNOWLEDGE, ts)


def expire_immediate(order: OrderLifecycle, ts: int) -> TransitionResult:
    """Expire the unfilled remainder of an IOC/FOK order after its immediate fills."""
    if order.order_type not in IMMEDIATE_TYPES and not is_terminal(order):
        return _refusal(
            order,
            OrderEvent.EXPIRE,
            OrderStatus.EXPIRED,
            Refusal.NOT_IMMEDIATE,
            f"{order.order_type} order {order.order_id} is not immediate-or-cancel",
        )
    return transition(order, OrderEvent.EXPIRE, ts)


def expire_day_orders(
    orders: Iterable[OrderLifecycle], session_end_ts: int
) -> tuple[Transitioned, ...]:
    """Expire every live DAY order created at or before the session end.

    Return only the orders that changed; GTC orders, terminal orders and
    orders created after `session_end_ts` (next session's) are left alone.
    """
    expired: list[Transitioned] = []
    for order in orders:
        if not _expires_at_session_end(order, session_end_ts):
            continue
        result = transition(order, OrderEvent.EXPIRE, session_end_ts)
        if isinstance(result, Transitioned):
            expired.append(result)
    return tuple(expired)


def is_terminal(order: OrderLifecycle | OrderStatus) -> bool:
    """Return True when no further event can change the order."""
    status = order.status if isinstance(order, OrderLifecycle) else order
    return status in TERMINAL_STATUSES


def remaining_qty(order: OrderLifecycle) -> Decimal:
    """Return the qty still working (FIX LeavesQty): zero once the order is terminal."""
    if is_terminal(order):
        return ZERO
    return MONEY_CONTEXT.subtract(order.qty, order.filled_qty)


def reserved_amount(order: OrderLifecycle) -> Decimal:
    """Return the buying power this order holds (zero unless it is live)."""
    return order.reserved


def _expires_at_session_end(order: OrderLifecycle, session_end_ts: int) -> bool:
    return (
        order.time_in_force is TimeInForce.DAY
        and order.status in LIVE_STATUSES
        and order.ts_created <= session_end_ts
    )


_Handler = Callable[
    [OrderLifecycle, OrderEvent, int, Decimal | None, Decimal | None], TransitionResult
]


def _move(
    order: OrderLifecycle,
    event: OrderEvent,
    ts: int,
    qty: Decimal | None,
    price: Decimal | None,
) -> TransitionResult:
    """Apply an event whose target depends on nothing but the table."""
    (target,) = TRANSITIONS[(order.status, event)]
    return _applied(order, event, _with_status(order, target, ts))


def _approve(
    order: OrderLifecycle,
    event: OrderEvent,
    ts: int,
    qty: Decimal | None,
    price: Decimal | None,
) -> TransitionResult:
    target = OrderStatus.APPROVED
    if price is not None and price <= ZERO:
        return _refusal(order, event, target, Refusal.BAD_PRICE, f"reference price {price} <= 0")
    if order.price is None and price is None:
        return _refusal(
            order,
            event,
            target,
            Refusal.MISSING_PRICE,
            f"order {order.order_id} has no limit price: approve it with a reference price",
        )
    return _applied(order, event, _with_status(order, target, ts, reference_price=price))


def _fill(
    order: OrderLifecycle,
    event: OrderEvent,
    ts: int,
    qty: Decimal | None,
    price: Decimal | None,
) -> TransitionResult:
    if qty is None or qty <= ZERO:
        return _refusal(order, event, None, Refusal.BAD_QUANTITY, f"fill qty must be > 0: {qty}")
    filled = MONEY_CONTEXT.add(order.filled_qty, qty)
    if filled > order.qty:
        return _refusal(
            order,
            event,
            OrderStatus.FILLED,
            Refusal.OVERFILL,
            f"fill of {qty} takes order {order.order_id} to {filled} > its qty {order.qty}",
        )
    target = OrderStatus.FILLED if filled == order.qty else OrderStatus.PARTIALLY_FILLED
    if order.order_type is OrderType.FOK and target is not OrderStatus.FILLED:
        return _refusal(
            order,
            event,
            target,
            Refusal.FOK_PARTIAL_FILL,
            f"FOK order {order.order_id} filled {qty} of {order.qty}: all or nothing",
        )
    return _applied(order, event, _with_status(order, target, ts, filled_qty=filled))


def _replace(
    order: OrderLifecycle,
    event: OrderEvent,
    ts: int,
    qty: Decimal | None,
    price: Decimal | None,
) -> TransitionResult:
    new_qty = order.qty if qty is None else qty
    refusal = _replace_refusal(order, new_qty, price)
    if refusal is not None:
        return refusal
    new_price = order.price if price is None else price
    target = OrderStatus.FILLED if new_qty == order.filled_qty else order.status
    return _applied(order, event, _with_status(order, target, ts, qty=new_qty, price=new_price))


def _replace_refusal(
    order: OrderLifecycle, new_qty: Decimal, price: Decimal | None
) -> IllegalTransition | None:
    event = OrderEvent.REPLACE
    if new_qty <= ZERO or new_qty < order.filled_qty:
        return _refusal(
            order,
            event,
            order.status,
            Refusal.BAD_QUANTITY,
            f"new qty {new_qty} must be > 0 and >= filled qty {order.filled_qty}",
        )
    if price is not None and order.price is None:
        return _refusal(
            order, event, order.status, Refusal.BAD_PRICE, "a market order cannot take a price"
        )
    if price is not None and price <= ZERO:
        return _refusal(order, event, order.status, Refusal.BAD_PRICE, f"new price {price} <= 0")
    return None


_HANDLERS: Mapping[OrderEvent, _Handler] = MappingProxyType(
    {
        OrderEvent.APPROVE: _approve,
        OrderEvent.FILL: _fill,
        OrderEvent.REPLACE: _replace,
    }
)


def _with_status(
    order: OrderLifecycle, status: OrderStatus, ts: int, **changes: Any
) -> OrderLifecycle:
    """Return ``order`` moved to ``status`` (and ``changes``), its reservation recomputed.

    One ``replace``: an approved order takes three transitions, each was two copies.
    """
    fields = {
        "qty": order.qty,
        "price": order.price,
        "filled_qty": order.filled_qty,
        "reference_price": order.reference_price,
        **changes,
    }
    reserved = _reserved(
        status, fields["qty"], fields["filled_qty"], fields["price"], fields["reference_price"]
    )
    return replace(order, status=status, ts_updated=ts, reserved=reserved, **changes)


def _reserved(
    status: OrderStatus,
    qty: Decimal,
    filled_qty: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None,
) -> Decimal:
    if status not in LIVE_STATUSES:
        return ZERO
    unit_price = price if price is not None else reference_price
    if unit_price is None:
        return ZERO
    leaves = MONEY_CONTEXT.subtract(qty, filled_qty)
    return MONEY_CONTEXT.multiply(leaves, unit_price)


def _applied(previous: OrderLifecycle, event: OrderEvent, order: OrderLifecycle) -> Transitioned:
    return Transitioned(order=order, previous=previous, event=event)


def _refuse_not_allowed(
    order: OrderLifecycle, event: OrderEvent, qty: DecimalLike | None
) -> IllegalTransition:
    reason = Refusal.TERMINAL if is_terminal(order) else Refusal.NOT_ALLOWED
    return _refusal(
        order,
        event,
        _requested_status(order, event, qty),
        reason,
        f"order {order.order_id} is {order.status}: {event} is not allowed",
    )


def _requested_status(
    order: OrderLifecycle, event: OrderEvent, qty: DecimalLike | None
) -> OrderStatus | None:
    if event is OrderEvent.FILL:
        if qty is None:
            return None
        filled = MONEY_CONTEXT.add(order.filled_qty, to_decimal(qty))
        return OrderStatus.FILLED if filled >= order.qty else OrderStatus.PARTIALLY_FILLED
    if event is OrderEvent.REPLACE:
        return order.status
    return _EVENT_TARGET[event]


def _refusal(
    order: OrderLifecycle,
    event: OrderEvent,
    to_status: OrderStatus | None,
    reason: Refusal,
    message: str,
) -> IllegalTransition:
    return IllegalTransition(
        order_id=order.order_id,
        from_status=order.status,
        to_status=to_status,
        event=event,
        reason=reason,
        message=message,
    )


def _optional_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _optional_decimal(value: DecimalLike | None) -> Decimal | None:
    return None if value is None else to_decimal(value)
