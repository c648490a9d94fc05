"""FLATTEN: one closing MARKET order per open position, idempotent by command id."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redfire.risk.flatten import ClosingOrder, HeldPosition, closing_order_id, closing_orders
from redfire.schemas.codec import ORDER, DecodeFailure, decode, encode_json
from redfire.schemas.records import OrderRequest


def test_each_open_position_gets_the_opposite_side_and_exact_size() -> None:
    positions = [
        HeldPosition("MSFT", -37.5),
        HeldPosition("AAPL", 100.0),
        HeldPosition("FLAT", 0.0),
        HeldPosition("DUST", 1e-12),
    ]
    orders = closing_orders("cmd-7", "ACC1", positions, ts=1_000)
    assert [(o.symbol, o.side, o.qty) for o in orders] == [
        ("AAPL", "SELL", 100.0),
        ("MSFT", "BUY", 37.5),
    ]
    assert all(o.order_type == "MARKET" and o.price is None and o.ts == 1_000 for o in orders)
    assert orders[0].order_id == "flatten-cmd-7-ACC1-AAPL"


def test_a_repeated_command_yields_the_same_orders_and_another_command_new_ids() -> None:
    positions = [HeldPosition("AAPL", 10.0), HeldPosition("0700.HK", -400.0)]
    first = closing_orders("cmd-1", "ACC1", positions, ts=5)
    again = closing_orders("cmd-1", "ACC1", list(reversed(positions)), ts=5)
    assert first == again
    other = closing_orders("cmd-2", "ACC1", positions, ts=5)
    assert {o.order_id for o in first}.isdisjoint({o.order_id for o in other})
    assert {o.order_id for o in first}.isdisjoint(
        {o.order_id for o in closing_orders("cmd-1", "ACC2", positions, ts=5)}
    )


def test_orders_are_valid_order_requests_on_the_wire() -> None:
    (order,) = closing_orders("cmd-1", "ACC1", [HeldPosition("AAPL", 3.0)], ts=42)
    request = OrderRequest(**asdict(order))
    assert decode(encode_json(request), ORDER) == request


def test_long_ids_are_hashed_within_the_codec_limit() -> None:
    long_id = closing_order_id("c" * 300, "ACC1", "AAPL")
    assert len(long_id) <= 256 and long_id == closing_order_id("c" * 300, "ACC1", "AAPL")
    (order,) = closing_orders("c" * 300, "ACC1", [HeldPosition("AAPL", 1.0)], ts=1)
    assert not isinstance(decode(encode_json(OrderRequest(**asdict(order))), ORDER), DecodeFailure)


def test_refuses_a_missing_command_id_and_duplicate_symbols() -> None:
    with pytest.raises(ValueError, match="command id"):
        closing_orders("", "ACC1", [HeldPosition("AAPL", 1.0)], ts=1)
    with pytest.raises(ValueError, match="one position per symbol"):
        closing_orders("c", "ACC1", [HeldPosition("AAPL", 1.0), HeldPosition("AAPL", 2.0)], ts=1)


symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.", min_size=1, max_size=12)
quantities = st.one_of(
    st.just(0.0), st.floats(min_value=-1e7, max_value=1e7, allow_nan=False).filter(bool)
)


@given(st.dictionaries(symbols, quantities, max_size=30))
def test_closing_every_order_leaves_every_position_flat(book: dict[str, float]) -> None:
    positions = [HeldPosition(symbol, qty) for symbol, qty in book.items()]
    orders: list[ClosingOrder] = closing_orders("cmd", "ACC", positions, ts=0)
    after = dict(book)
    for order in orders:
        after[order.symbol] += order.qty if order.side == "BUY" else -order.qty
    assert all(abs(qty) <= 1e-9 for qty in after.values())
    assert len(orders) == sum(1 for qty in book.values() if abs(qty) > 1e-9)
    assert len({o.order_id for o in orders}) == len(orders)
