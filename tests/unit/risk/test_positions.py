"""Position arithmetic: long/short, flips, fees, and exactness against a Fraction ledger."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redfire.risk.positions import (
    FillEffect,
    Position,
    apply_fill,
    market_value,
    to_decimal,
    unrealized_pnl,
)

D = Decimal
CENT = Fraction(1, 100)


def fills(*steps: tuple[str, str, str, str]) -> tuple[Position, list[FillEffect]]:
    """Apply (side, qty, price, fee) steps from flat; return the final position and effects."""
    position = Position.flat()
    effects = []
    for side, qty, price, fee in steps:
        effect = apply_fill(position, side, D(qty), D(price), D(fee))
        effects.append(effect)
        position = effect.position
    return position, effects


# --- to_decimal -----------------------------------------------------------------


def test_to_decimal_keeps_the_float_as_written() -> None:
    assert to_decimal(12.34) == D("12.34")
    assert str(to_decimal(0.1)) == "0.1"


def test_to_decimal_accepts_int_str_and_decimal() -> None:
    assert to_decimal(7) == D(7)
    assert to_decimal(" 101.25 ") == D("101.25")
    assert to_decimal(D("3.5")) == D("3.5")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "nan", "Infinity", "abc", ""])
def test_to_decimal_refuses_non_finite_and_garbage(bad: float | str) -> None:
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_to_decimal_refuses_bool() -> None:
    with pytest.raises(TypeError):
        to_decimal(True)


# --- long side ------------------------------------------------------------------


def test_buy_from_flat_opens_long_at_fill_price() -> None:
    position, [effect] = fills(("BUY", "100", "10.50", "1.00"))
    assert position == Position(D(100), D("10.50"), D(0), D("1.00"))
    assert effect.realized == 0
    assert effect.cash_delta == D("-1051.00")


def test_adding_to_long_averages_the_cost() -> None:
    position, _ = fills(("BUY", "100", "10", "0"), ("BUY", "300", "14", "0"))
    assert position.qty == 400
    assert position.avg_cost == D(13)


def test_partial_close_of_long_realizes_against_avg_cost_and_keeps_it() -> None:
    position, effects = fills(("BUY", "100", "10", "0"), ("SELL", "40", "12.5", "0"))
    assert effects[-1].realized == D(100)
    assert effects[-1].cash_delta == D(500)
    assert position.qty == 60
    assert position.avg_cost == D(10)
    assert position.realized_pnl == D(100)


def test_selling_exactly_the_long_goes_flat_with_zero_avg_cost() -> None:
    position, effects = fills(("BUY", "100", "10", "0"), ("SELL", "100", "9", "0"))
    assert position.is_flat
    assert position.avg_cost == 0
    assert effects[-1].realized == D(-100)


def test_long_to_short_flip_closes_at_avg_cost_and_opens_rest_at_fill_price() -> None:
    position, effects = fills(("BUY", "100", "10", "0"), ("SELL", "150", "12", "0"))
    assert effects[-1].realized == D(200)
    assert position.qty == -50
    assert position.avg_cost == D(12)
    assert effects[-1].cash_delta == D(1800)


# --- short side -----------------------------------------------------------------


def test_sell_from_flat_opens_short() -> None:
    position, [effect] = fills(("SELL", "20", "50", "0"))
    assert position.qty == -20
    assert position.avg_cost == D(50)
    assert effect.cash_delta == D(1000)


def test_adding_to_short_averages_the_cost() -> None:
    position, _ = fills(("SELL", "10", "50", "0"), ("SELL", "30", "54", "0"))
    assert position.qty == -40
    assert position.avg_cost == D(53)


def test_short_cover_below_avg_cost_is_a_gain() -> None:
    position, effects = fills(("SELL", "40", "53", "0"), ("BUY", "10", "50", "0"))
    assert effects[-1].realized == D(30)
    assert position.qty == -30
    assert position.avg_cost == D(53)


def test_full_short_cover_goes_flat() -> None:
    position, effects = fills(("SELL", "40", "53", "0"), ("BUY", "40", "55", "0"))
    assert position.is_flat
    assert position.avg_cost == 0
    assert effects[-1].realized == D(-80)


def test_short_to_long_flip() -> None:
    position, effects = fills(("SELL", "10", "20", "0"), ("BUY", "25", "18", "0"))
    assert effects[-1].realized == D(20)
    assert position.qty == 15
    assert position.avg_cost == D(18)


# --- fees -----------------------------------------------------------------------


def test_fees_accumulate_and_realized_stays_gross() -> None:
    position, effects = fills(("BUY", "10", "100", "1.25"), ("SELL", "10", "101", "1.30"))
    assert position.realized_pnl == D(10)
    assert position.fees == D("2.55")
    assert position.net_realized_pnl == D("7.45")
    assert effects[-1].cash_delta == D("1008.70")
    total_cash = sum((e.cash_delta for e in effects), D(0))
    assert total_cash == position.net_realized_pnl


def test_negative_fee_is_a_rebate() -> None:
    position, [effect] = fills(("BUY", "10", "100", "-0.50"))
    assert position.fees == D("-0.50")
    assert effect.cash_delta == D("-999.50")


# --- marks ----------------------------------------------------------------------


def test_unrealized_and_market_value_of_long_and_short() -> None:
    long, _ = fills(("BUY", "10", "100", "0"))
    short, _ = fills(("SELL", "10", "100", "0"))
    assert unrealized_pnl(long, D(105)) == D(50)
    assert unrealized_pnl(short, D(105)) == D(-50)
    assert market_value(long, D(105)) == D(1050)
    assert market_value(short, D(105)) == D(-1050)
    assert unrealized_pnl(Position.flat(), D(105)) == 0


# --- validation and plumbing ----------------------------------------------------


@pytest.mark.parametrize(
    ("side", "qty", "price"),
    [
        ("HOLD", "1", "1"),
        ("buy", "1", "1"),
        ("BUY", "0", "1"),
        ("BUY", "-1", "1"),
        ("SELL", "1", "0"),
    ],
)
def test_apply_fill_refuses_broken_input(side: str, qty: str, price: str) -> None:
    with pytest.raises(ValueError):
        apply_fill(Position.flat(), side, D(qty), D(price), D(0))


def test_apply_fill_accepts_floats_through_str() -> None:
    effect = apply_fill(Position.flat(), "BUY", 3, 12.34, 0.01)
    assert effect.cash_delta == D("-37.03")


def test_position_round_trips_through_dict() -> None:
    position, _ = fills(("BUY", "3", "10.01", "0.02"), ("BUY", "7", "10.02", "0.03"))
    assert Position.from_dict(position.to_dict()) == position
    assert all(isinstance(v, str) for v in position.to_dict().values())


def test_result_ignores_the_callers_decimal_context() -> None:
    steps = (("BUY", "3", "10.01", "0"), ("BUY", "7", "10.02", "0"), ("SELL", "4", "11.11", "0"))
    expected, _ = fills(*steps)
    with localcontext() as ctx:
        ctx.prec = 3
        got, _ = fills(*steps)
    assert got == expected


# --- exactness against an independent ledger ------------------------------------


class FractionLedger:
    """Track a position by signed cost basis in exact rationals (no average rounding)."""

    def __init__(self) -> None:
        self.qty = Fraction(0)
        self.cost = Fraction(0)
        self.realized = Fraction(0)
        self.fees = Fraction(0)
        self.cash = Fraction(0)

    def fill(self, side: str, qty: Fraction, price: Fraction, fee: Fraction) -> None:
        signed = qty if side == "BUY" else -qty
        self.cash += -signed * price - fee
        self.fees += fee
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost += signed * price
            return
        avg = self.cost / self.qty
        closing = min(abs(signed), abs(self.qty)) * (1 if signed > 0 else -1)
        self.realized -= closing * (price - avg)
        self.qty += closing
        self.cost += closing * avg
        rest = signed - closing
        self.qty += rest
        self.cost += rest * price


def random_fills(seed: int, count: int) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    rng = random.Random(seed)
    price = Decimal("100.00")
    held = Decimal(0)
    steps = []
    for _ in range(count):
        price = max(Decimal("0.01"), price + Decimal(rng.randint(-50, 50)) / 100)
        roll = rng.random()
        if roll < 0.03 and held != 0:
            qty = abs(held)  # close out exactly, so flat positions are exercised
            side = "SELL" if held > 0 else "BUY"
        else:
            qty = Decimal(rng.randint(1, 50_000)) / (10 ** rng.randint(0, 3))
            side = rng.choice(("BUY", "SELL"))
        fee = (qty * price * Decimal("0.0003")).quantize(Decimal("0.01"))
        held += qty if side == "BUY" else -qty
        steps.append((side, qty, price, fee))
    return steps


def to_cents(value: Fraction | Decimal) -> Fraction:
    return Fraction(round(Fraction(value) / CENT)) * CENT


def assert_matches(position: Position, cash: Decimal, ledger: FractionLedger) -> None:
    assert Fraction(position.qty) == ledger.qty
    assert Fraction(cash) == ledger.cash  # sums of exact products: no rounding at all
    assert Fraction(position.fees) == ledger.fees
    assert abs(Fraction(position.realized_pnl) - ledger.realized) < Fraction(1, 10**18)
    assert to_cents(position.realized_pnl) == to_cents(ledger.realized)
    if ledger.qty != 0:
        assert abs(Fraction(position.avg_cost) - ledger.cost / ledger.qty) < Fraction(1, 10**20)
    else:
        assert position.avg_cost == 0


@pytest.mark.parametrize(("seed", "count"), [(1, 5_000), (2, 5_000), (3, 20_000)])
def test_random_fills_match_a_fraction_ledger_to_the_cent(seed: int, count: int) -> None:
    position = Position.flat()
    cash = Decimal(0)
    ledger = FractionLedger()
    for step, (side, qty, price, fee) in enumerate(random_fills(seed, count)):
        effect = apply_fill(position, side, qty, price, fee)
        position = effect.position
        cash += effect.cash_delta
        ledger.fill(side, Fraction(qty), Fraction(price), Fraction(fee))
        if step % 250 == 0:
            assert_matches(position, cash, ledger)
    assert_matches(position, cash, ledger)


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000"), places=2)
quantity = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3)
fill_steps = st.lists(
    st.tuples(st.sampled_from(["BUY", "SELL"]), quantity, money, money), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(steps=fill_steps, mark=money)
def test_cash_plus_market_value_equals_net_realized_plus_unrealized(
    steps: list[tuple[str, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    position = Position.flat()
    cash = Decimal(0)
    for side, qty, price, fee in steps:
        effect = apply_fill(position, side, qty, price, fee)
        position = effect.position
        cash += effect.cash_delta
    wealth = Fraction(cash) + Fraction(market_value(position, mark))
    pnl = Fraction(position.net_realized_pnl) + Fraction(unrealized_pnl(position, mark))
    assert abs(wealth - pnl) < Fraction(1, 10**15)
