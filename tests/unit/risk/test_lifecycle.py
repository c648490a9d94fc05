"""Order lifecycle: the whole (status, event) matrix, reservations, IOC/FOK, DAY expiry."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redfire.risk.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    OrderLifecycle,
    OrderStatus,
    OrderType,
    Refusal,
    TimeInForce,
    Transitioned,
    TransitionResult,
    allowed_events,
    decide,
    expire_day_orders,
    expire_immediate,
    is_terminal,
    new_order,
    open_after_approval,
    remaining_qty,
    reserved_amount,
    transition,
)

D = Decimal
S = OrderStatus
E = OrderEvent
T0 = 1_700_000_000_000


def applied(result: TransitionResult) -> OrderLifecycle:
    assert isinstance(result, Transitioned), result
    return result.order


def refused(result: TransitionResult) -> IllegalTransition:
    assert isinstance(result, IllegalTransition), result
    return result


def created(
    order_type: OrderType = OrderType.LIMIT,
    price: str | None = "100",
    qty: str = "10",
    tif: TimeInForce = TimeInForce.DAY,
    ts: int = T0,
    order_id: str = "o-1",
) -> OrderLifecycle:
    return new_order(order_id, "acct", "AAPL", "BUY", D(qty), price, order_type, ts, tif)


def order_in(status: OrderStatus, order_type: OrderType = OrderType.LIMIT) -> OrderLifecycle:
    """Drive a 10 @ 100 order into `status` through legal events only."""
    order = created(order_type)
    if status is S.CREATED:
        return order
    if status is S.FAILED:
        return applied(transition(order, E.FAIL, T0 + 1))
    if status is S.VALIDATED:
        return applied(transition(order, E.VALIDATE, T0 + 1))
    if status is S.REJECTED:
        return applied(decide(order, approved=False, ts=T0 + 1))
    order = applied(decide(order, approved=True, ts=T0 + 1))
    if status is S.APPROVED:
        return order
    order = applied(open_after_approval(order, T0 + 2))
    steps_to: dict[OrderStatus, list[tuple[OrderEvent, str | None]]] = {
        S.OPEN: [],
        S.PARTIALLY_FILLED: [(E.FILL, "4")],
        S.FILLED: [(E.FILL, "10")],
        S.CANCELLED: [(E.CANCEL, None)],
        S.EXPIRED: [(E.EXPIRE, None)],
    }
    for event, qty in steps_to[status]:
        order = applied(transition(order, event, T0 + 3, qty=qty))
    assert order.status is status
    return order


# The legal table written out independently of the module, with the target each
# event reaches from `order_in(status)` given the payloads in `PAYLOAD`.
EXPECTED_LEGAL = {
    (S.CREATED, E.VALIDATE): S.VALIDATED,
    (S.CREATED, E.REJECT): S.REJECTED,
    (S.CREATED, E.FAIL): S.FAILED,
    (S.VALIDATED, E.APPROVE): S.APPROVED,
    (S.VALIDATED, E.REJECT): S.REJECTED,
    (S.VALIDATED, E.FAIL): S.FAILED,
    (S.APPROVED, E.ACKNOWLEDGE): S.OPEN,
    (S.APPROVED, E.REJECT): S.REJECTED,
    (S.APPROVED, E.FAIL): S.FAILED,
    (S.APPROVED, E.FILL): S.PARTIALLY_FILLED,
    (S.APPROVED, E.REPLACE): S.APPROVED,
    (S.APPROVED, E.CANCEL): S.CANCELLED,
    (S.APPROVED, E.EXPIRE): S.EXPIRED,
    (S.OPEN, E.FILL): S.PARTIALLY_FILLED,
    (S.OPEN, E.REPLACE): S.OPEN,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.REPLACE): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
}
PAYLOAD: dict[OrderEvent, dict[str, str]] = {
    E.FILL: {"qty": "2"},
    E.REPLACE: {"qty": "8"},
    E.APPROVE: {"price": "100"},
}
MATRIX = [(status, event) for status in S for event in E]


def test_table_matches_the_expected_legal_pairs() -> None:
    assert set(TRANSITIONS) == set(EXPECTED_LEGAL)


@pytest.mark.parametrize(("status", "event"), MATRIX, ids=lambda v: str(v))
def test_every_status_event_pair(status: OrderStatus, event: OrderEvent) -> None:
    order = order_in(status)
    result = transition(order, event, T0 + 10, **PAYLOAD.get(event, {}))
    if (status, event) in EXPECTED_LEGAL:
        moved = applied(result)
        assert moved.status is EXPECTED_LEGAL[(status, event)]
        assert moved.ts_updated == T0 + 10
        assert isinstance(result, Transitioned)
        assert result.previous == order
    else:
        refusal = refused(result)
        assert refusal.from_status is status
        assert refusal.event is event
        assert refusal.order_id == order.order_id
        assert refusal.reason is (Refusal.TERMINAL if is_terminal(status) else Refusal.NOT_ALLOWED)
        assert event.value in refusal.message


@pytest.mark.parametrize("status", sorted(S), ids=str)
def test_allowed_events_follow_the_table(status: OrderStatus) -> None:
    expected = {event for (source, event) in EXPECTED_LEGAL if source is status}
    assert allowed_events(status) == expected
    assert (not expected) == is_terminal(status)


# --- decision and reservation ---------------------------------------------------


def test_approval_reserves_qty_times_limit_price() -> None:
    result = decide(created(), approved=True, ts=T0 + 1)
    order = applied(result)
    assert order.status is S.APPROVED
    assert reserved_amount(order) == D(1000)
    assert isinstance(result, Transitioned)
    assert result.previous.status is S.CREATED
    assert result.reservation_change == D(1000)


def test_rejection_reserves_nothing() -> None:
    order = applied(decide(created(), approved=False, ts=T0 + 1))
    assert order.status is S.REJECTED
    assert reserved_amount(order) == 0


def test_market_order_reserves_at_the_reference_price() -> None:
    order = created(OrderType.MARKET, price=None)
    approved = applied(decide(order, approved=True, ts=T0, reference_price=D("99.5")))
    assert approved.reserved == D(995)
    assert approved.reference_price == D("99.5")


def test_market_order_without_reference_price_is_refused() -> None:
    validated = applied(transition(created(OrderType.MARKET, price=None), E.VALIDATE, T0))
    refusal = refused(transition(validated, E.APPROVE, T0))
    assert refusal.reason is Refusal.MISSING_PRICE
    assert refusal.to_status is S.APPROVED


def test_open_after_approval_keeps_the_reservation() -> None:
    order = applied(open_after_approval(order_in(S.APPROVED), T0 + 5))
    assert order.status is S.OPEN
    assert order.reserved == D(1000)


def test_fills_release_the_reservation_proportionally() -> None:
    order = order_in(S.OPEN)
    first = transition(order, E.FILL, T0 + 5, qty=D(4))
    partial = applied(first)
    assert partial.status is S.PARTIALLY_FILLED
    assert partial.filled_qty == 4
    assert partial.reserved == D(600)
    assert isinstance(first, Transitioned)
    assert first.reservation_change == D(-400)
    done = applied(transition(partial, E.FILL, T0 + 6, qty=D(6)))
    assert done.status is S.FILLED
    assert done.reserved == 0
    assert remaining_qty(done) == 0


def test_fractional_partial_fills_sum_exactly_to_filled() -> None:
    order = order_in(S.OPEN)
    for _ in range(100):
        order = applied(transition(order, E.FILL, T0 + 5, qty="0.1"))
    assert order.status is S.FILLED


def test_overfill_is_refused_and_reported() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    refusal = refused(transition(order, E.FILL, T0 + 5, qty=D(7)))
    assert refusal.reason is Refusal.OVERFILL
    assert refusal.to_status is S.FILLED
    assert "11" in refusal.message
    assert order.filled_qty == 4


@pytest.mark.parametrize("qty", [None, "0", "-1"])
def test_fill_without_positive_qty_is_refused(qty: str | None) -> None:
    refusal = refused(transition(order_in(S.OPEN), E.FILL, T0 + 5, qty=qty))
    assert refusal.reason is Refusal.BAD_QUANTITY


def test_fill_before_acknowledgement_is_applied() -> None:
    order = applied(transition(order_in(S.APPROVED), E.FILL, T0 + 5, qty=D(10)))
    assert order.status is S.FILLED


# --- cancel and replace ---------------------------------------------------------


@pytest.mark.parametrize("status", [S.APPROVED, S.OPEN, S.PARTIALLY_FILLED])
def test_cancel_releases_the_remaining_reservation(status: OrderStatus) -> None:
    order = order_in(status)
    result = transition(order, E.CANCEL, T0 + 5)
    cancelled = applied(result)
    assert cancelled.status is S.CANCELLED
    assert cancelled.reserved == 0
    assert cancelled.filled_qty == order.filled_qty
    assert isinstance(result, Transitioned)
    assert result.reservation_change == -order.reserved


def test_replace_recomputes_the_reservation() -> None:
    order = applied(transition(order_in(S.OPEN), E.REPLACE, T0 + 5, qty=D(20), price=D(90)))
    assert (order.status, order.qty, order.price, order.reserved) == (S.OPEN, D(20), D(90), D(1800))


def test_replace_of_partially_filled_order_reserves_only_the_rest() -> None:
    order = applied(transition(order_in(S.PARTIALLY_FILLED), E.REPLACE, T0 + 5, qty=D(8)))
    assert order.status is S.PARTIALLY_FILLED
    assert order.reserved == D(400)


def test_replace_down_to_filled_qty_completes_the_order() -> None:
    order = applied(transition(order_in(S.PARTIALLY_FILLED), E.REPLACE, T0 + 5, qty=D(4)))
    assert order.status is S.FILLED
    assert order.reserved == 0


@pytest.mark.parametrize("qty", ["3", "0", "-5"])
def test_replace_below_filled_or_non_positive_is_refused(qty: str) -> None:
    refusal = refused(transition(order_in(S.PARTIALLY_FILLED), E.REPLACE, T0 + 5, qty=qty))
    assert refusal.reason is Refusal.BAD_QUANTITY


def test_replace_cannot_give_a_market_order_a_price() -> None:
    order = applied(decide(created(OrderType.MARKET, price=None), True, T0, reference_price=D(1)))
    refusal = refused(transition(order, E.REPLACE, T0 + 5, price=D(2)))
    assert refusal.reason is Refusal.BAD_PRICE


def test_replace_with_non_positive_price_is_refused() -> None:
    refusal = refused(transition(order_in(S.OPEN), E.REPLACE, T0 + 5, price=D(0)))
    assert refusal.reason is Refusal.BAD_PRICE


# --- IOC / FOK ------------------------------------------------------------------


def test_ioc_remainder_expires_after_immediate_fills() -> None:
    order = order_in(S.OPEN, OrderType.IOC)
    order = applied(transition(order, E.FILL, T0 + 5, qty=D(3)))
    expired = applied(expire_immediate(order, T0 + 5))
    assert expired.status is S.EXPIRED
    assert expired.filled_qty == 3
    assert expired.reserved == 0
    assert remaining_qty(expired) == 0


def test_ioc_without_fills_expires_straight_after_approval() -> None:
    order = applied(expire_immediate(order_in(S.APPROVED, OrderType.IOC), T0 + 5))
    assert order.status is S.EXPIRED


def test_fok_partial_fill_is_refused() -> None:
    refusal = refused(transition(order_in(S.OPEN, OrderType.FOK), E.FILL, T0 + 5, qty=D(9)))
    assert refusal.reason is Refusal.FOK_PARTIAL_FILL
    assert refusal.to_status is S.PARTIALLY_FILLED


def test_fok_full_fill_is_applied() -> None:
    order = applied(transition(order_in(S.OPEN, OrderType.FOK), E.FILL, T0 + 5, qty=D(10)))
    assert order.status is S.FILLED


def test_unfilled_fok_is_killed() -> None:
    order = applied(expire_immediate(order_in(S.OPEN, OrderType.FOK), T0 + 5))
    assert order.status is S.EXPIRED
    assert order.filled_qty == 0


def test_expire_immediate_refuses_a_resting_order() -> None:
    refusal = refused(expire_immediate(order_in(S.OPEN), T0 + 5))
    assert refusal.reason is Refusal.NOT_IMMEDIATE


def test_expire_immediate_of_a_filled_ioc_reports_terminal() -> None:
    order = order_in(S.OPEN, OrderType.IOC)
    filled = applied(transition(order, E.FILL, T0 + 5, qty=D(10)))
    assert refused(expire_immediate(filled, T0 + 5)).reason is Refusal.TERMINAL


# --- DAY expiry -----------------------------------------------------------------


def test_expire_day_orders_expires_only_live_day_orders_of_the_session() -> None:
    session_end = T0 + 1_000
    day_open = order_in(S.OPEN)
    day_partial = order_in(S.PARTIALLY_FILLED)
    gtc = created(tif=TimeInForce.GTC, order_id="gtc")
    gtc_open = applied(open_after_approval(applied(decide(gtc, True, T0)), T0))
    day_filled = order_in(S.FILLED)
    next_session = created(ts=session_end + 1, order_id="tomorrow")
    next_open = applied(open_after_approval(applied(decide(next_session, True, T0)), T0))
    undecided = created(order_id="undecided")

    results = expire_day_orders(
        [day_open, day_partial, gtc_open, day_filled, next_open, undecided], session_end
    )

    assert [r.previous for r in results] == [day_open, day_partial]
    for result in results:
        assert result.order.status is S.EXPIRED
        assert result.order.ts_updated == session_end
        assert result.order.reserved == 0
    assert results[1].order.filled_qty == 4


def test_expire_day_orders_of_nothing_is_empty() -> None:
    assert expire_day_orders([], T0) == ()


# --- helpers and construction ---------------------------------------------------


def test_remaining_qty_is_leaves_qty() -> None:
    assert remaining_qty(order_in(S.OPEN)) == 10
    assert remaining_qty(order_in(S.PARTIALLY_FILLED)) == 6
    assert remaining_qty(order_in(S.CANCELLED)) == 0


@pytest.mark.parametrize("status", sorted(S), ids=str)
def test_only_live_orders_hold_a_reservation(status: OrderStatus) -> None:
    order = order_in(status)
    live = status in {S.APPROVED, S.OPEN, S.PARTIALLY_FILLED}
    assert (reserved_amount(order) > 0) == live
    assert is_terminal(order) == (
        status in {S.FILLED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.FAILED}
    )


@pytest.mark.parametrize(
    ("side", "qty", "price", "order_type"),
    [
        ("HOLD", "1", "1", "LIMIT"),
        ("BUY", "0", "1", "LIMIT"),
        ("BUY", "1", "-1", "LIMIT"),
        ("BUY", "1", None, "LIMIT"),
        ("BUY", "1", "1", "STOP"),
    ],
)
def test_new_order_refuses_input_the_codec_should_have_caught(
    side: str, qty: str, price: str | None, order_type: str
) -> None:
    with pytest.raises(ValueError):
        new_order("o", "a", "S", side, qty, price, order_type, T0)


def test_new_order_defaults_to_day_and_created() -> None:
    order = new_order("o", "a", "S", "SELL", 5, 12.34, "LIMIT", T0)
    assert order.time_in_force is TimeInForce.DAY
    assert order.status is S.CREATED
    assert order.price == D("12.34")
    assert order.reserved == 0


@pytest.mark.parametrize("status", sorted(S), ids=str)
def test_order_round_trips_through_json(status: OrderStatus) -> None:
    order = order_in(status)
    assert OrderLifecycle.from_dict(json.loads(json.dumps(order.to_dict()))) == order


def test_market_order_round_trips_through_json() -> None:
    order = applied(decide(created(OrderType.MARKET, price=None), True, T0, reference_price=7))
    assert OrderLifecycle.from_dict(json.loads(json.dumps(order.to_dict()))) == order


@settings(max_examples=100, deadline=None)
@given(chunks=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20))
def test_reservation_always_equals_leaves_times_price(chunks: list[int]) -> None:
    order = order_in(S.OPEN)
    for chunk in chunks:
        result = transition(order, E.FILL, T0 + 5, qty=D(chunk) / 10)
        if isinstance(result, IllegalTransition):
            assert result.reason in {Refusal.OVERFILL, Refusal.TERMINAL}
            continue
        order = result.order
        assert order.filled_qty <= order.qty
        assert order.reserved == remaining_qty(order) * D(100)
