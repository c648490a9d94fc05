"""Limit use: how close an account is to each account-level limit."""

from __future__ import annotations

import pytest

from redfire.risk.limits import Limits
from redfire.risk.utilisation import AccountFigures, largest_use, limit_use


def figures(**changes: object) -> AccountFigures:
    values: dict[str, object] = {
        "equity": 5_000_000.0,
        "gross_exposure": 800_000.0,
        "net_exposure": -200_000.0,
        "largest_exposure": 600_000.0,
        "concentration": 0.75,
        "daily_pnl": -10_000.0,
        "drawdown": 0.02,
        "var_99": 50_000.0,
    }
    values.update(changes)
    return AccountFigures(**values)  # type: ignore[arg-type]


def test_each_applicable_limit_as_a_fraction_of_it() -> None:
    uses = limit_use(figures(), Limits())
    assert uses["max_gross_exposure"] == pytest.approx(800_000 / 20_000_000)
    assert uses["max_net_exposure"] == pytest.approx(200_000 / 10_000_000)
    assert uses["max_position_notional"] == pytest.approx(600_000 / 5_000_000)
    assert uses["max_drawdown"] == pytest.approx(0.1)
    assert uses["max_var_pct"] == pytest.approx(0.01 / 0.05)
    # Below concentration_min_gross the concentration limit does not apply; off limits neither.
    assert "max_concentration" not in uses
    assert "max_daily_loss" not in uses and "max_var" not in uses


def test_concentration_counts_once_gross_passes_its_floor() -> None:
    uses = limit_use(figures(gross_exposure=2_000_000.0), Limits())
    assert uses["max_concentration"] == pytest.approx(1.5)
    assert largest_use(figures(gross_exposure=2_000_000.0), Limits()) == (
        "max_concentration",
        pytest.approx(1.5),
    )


def test_no_evidence_no_use() -> None:
    uses = limit_use(figures(equity=-1.0, var_99=None, drawdown=None), Limits())
    assert not {"max_var_pct", "max_drawdown"} & set(uses)
    assert (
        largest_use(
            figures(),
            Limits(
                max_gross_exposure=None,
                max_net_exposure=None,
                max_position_notional=None,
                max_drawdown=None,
                max_var_pct=None,
            ),
        )
        is None
    )
