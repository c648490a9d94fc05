"""Limit utilisation rows: one per limit in force with a current value, value / limit."""

from __future__ import annotations

import pytest

from redfire.risk.limits import Limits
from redfire.risk.utilisation import HeldSymbol, Usage, largest_use, limit_usage, utilisation


def usage(**fields: object) -> Usage:
    base: dict[str, object] = {
        "gross_exposure": 30_000.0,
        "net_exposure": -10_000.0,
        "equity": 100_000.0,
        "cash": 110_000.0,
        "reserved": 11_000.0,
        "positions": {"A": HeldSymbol(100, 10_000.0), "B": HeldSymbol(-40, -20_000.0)},
    }
    base.update(fields)
    return Usage(**base)  # type: ignore[arg-type]


def rows(limits: Limits, figures: Usage) -> dict[str, dict[str, object]]:
    return {row["name"]: row for row in limit_usage(limits, figures)}


def test_each_limit_in_force_gets_value_limit_and_utilisation() -> None:
    limits = Limits(
        max_gross_exposure=60_000,
        max_net_exposure=20_000,
        max_concentration=0.8,
        concentration_min_gross=30_000,
    )
    found = rows(limits, usage(var=2_000.0, daily_pnl=-500.0, drawdown=0.05, active_orders=3))

    assert found["max_gross_exposure"]["utilisation"] == pytest.approx(0.5)
    assert found["max_net_exposure"]["value"] == 10_000.0
    assert found["max_concentration"]["value"] == pytest.approx(20_000 / 30_000)
    assert found["max_position_notional:B"] == {
        "name": "max_position_notional:B",
        "symbol": "B",
        "value": 20_000.0,
        "limit": 5_000_000.0,
        "utilisation": pytest.approx(0.004),
    }
    assert found["max_var_pct"]["value"] == pytest.approx(0.02)
    assert found["max_drawdown"]["utilisation"] == pytest.approx(0.25)
    assert found["max_active_orders"]["value"] == 3.0
    assert found["buying_power"]["utilisation"] == pytest.approx(0.1)


def test_limits_switched_off_or_without_a_value_are_left_out() -> None:
    limits = Limits(max_gross_exposure=None, max_var=None, max_daily_loss=None)
    found = rows(limits, usage(var=None, daily_pnl=None, cash=0.0))

    for name in ("max_gross_exposure", "max_var", "max_var_pct", "max_daily_loss", "buying_power"):
        assert name not in found
    assert "max_order_qty" not in found  # per-order limits have no current value


def test_daily_loss_counts_losses_only() -> None:
    limits = Limits(max_daily_loss=1_000)

    assert rows(limits, usage(daily_pnl=-250.0))["max_daily_loss"]["value"] == 250.0
    assert rows(limits, usage(daily_pnl=400.0))["max_daily_loss"]["value"] == 0.0


def test_a_zero_limit_is_empty_or_unmeasurable() -> None:
    assert utilisation(0.0, 0.0) == 0.0
    assert utilisation(5.0, 0.0) is None
    assert utilisation(5.0, 10.0) == 0.5


def test_concentration_is_listed_only_where_the_check_applies() -> None:
    limits = Limits(concentration_min_gross=30_001)

    assert "max_concentration" not in rows(limits, usage())


def test_largest_use_names_the_limit_closest_to_being_reached() -> None:
    usage = Usage(
        gross_exposure=2_000_000.0,
        net_exposure=-200_000.0,
        equity=5_000_000.0,
        cash=5_000_000.0,
        reserved=0.0,
        positions={"A": HeldSymbol(100.0, 1_500_000.0), "B": HeldSymbol(-10.0, -500_000.0)},
    )
    assert largest_use(Limits(), usage) == ("max_concentration", pytest.approx(0.75 / 0.5))


def test_largest_use_is_none_without_a_limit_in_force() -> None:
    usage = Usage(gross_exposure=0.0, net_exposure=0.0, equity=0.0, cash=0.0, reserved=0.0)
    off = Limits(
        max_gross_exposure=None,
        max_net_exposure=None,
        max_active_orders=None,
        max_orders_per_window=None,
        max_cancels_per_window=None,
    )
    assert largest_use(off, usage) is None
