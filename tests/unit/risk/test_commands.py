"""risk_commands checked before anything is applied: each refusal names field, value, choices."""

from __future__ import annotations

from typing import Any

import pytest

from redfire.risk.commands import REFUSAL_REASON, CommandRefusal, check_command

GOOD_RULE = {"rule_id": "pos", "metric": "open_positions", "comparison": ">", "threshold": 5}


def refused(command: str, payload: dict[str, Any], account: str | None = "ACC1") -> CommandRefusal:
    refusal = check_command(command, account, payload)
    assert refusal is not None, f"{command} {payload} was accepted"
    assert refusal.reason == REFUSAL_REASON
    return refusal


@pytest.mark.parametrize(
    ("command", "payload", "account"),
    [
        ("SET_CASH", {"cash": 1_000_000}, "ACC1"),
        ("SET_CASH", {"cash": "250000.50"}, "ACC1"),
        ("SET_CASH", {"cash": -500}, "ACC1"),
        ("SET_LIMITS", {"max_order_qty": 500, "max_var": None}, "*"),
        ("ADD_RULE", GOOD_RULE, None),
        ("ADD_RULE", {**GOOD_RULE, "metric_name": "var_95_ratio", "metric": None}, None),
        ("REMOVE_RULE", {"rule_id": "pos"}, None),
        ("ADD_SCENARIO", {"scenario_id": "crash", "default_shock": -0.2}, None),
        ("RUN_STRESS", {}, "ACC1"),
        ("RUN_STRESS", {"scenario_id": "crash"}, "ACC1"),
        ("HALT", {}, "ACC1"),
        ("RESUME", {}, "*"),
    ],
)
def test_valid_commands_pass(command: str, payload: dict[str, Any], account: str | None) -> None:
    if "metric_name" in payload:
        payload = {k: v for k, v in payload.items() if k != "metric"}
    assert check_command(command, account, payload) is None


@pytest.mark.parametrize(
    ("field", "value", "fragments"),
    [
        ("metric", "gross_exposre", ["metric='gross_exposre'", "gross_exposure", "open_positions"]),
        ("metric", "positions", ["metric='positions'", "did you mean 'open_positions'"]),
        ("comparison", "=>", ["comparison='=>'", ">="]),
        ("scope", "desk", ["scope='desk'", "account, all"]),
        ("action", "liquidate", ["action='liquidate'", "halt, reduce_only"]),
        ("severity", "HIGH", ["severity='HIGH'", "CRITICAL, INFO, WARNING"]),
        ("threshold", float("nan"), ["threshold=nan", "finite"]),
        ("threshold", float("inf"), ["threshold=inf", "finite"]),
        ("threshold", True, ["threshold=True", "finite number"]),
    ],
)
def test_add_rule_refusals_name_field_value_and_choices(
    field: str, value: object, fragments: list[str]
) -> None:
    refusal = refused("ADD_RULE", {**GOOD_RULE, field: value}, None)
    assert refusal.field.endswith(field)
    assert "rule 'pos'" in refusal.error
    for fragment in fragments:
        assert fragment in refusal.error


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({"max_orders": 5}, ["limit='max_orders'", "max_order_qty", "did you mean"]),
        ({"max_order_qty": -5}, ["max_order_qty=-5", ">= 0"]),
        ({"max_order_notional": float("inf")}, ["max_order_notional=inf", "finite"]),
        ({"max_var_pct": float("nan")}, ["max_var_pct=nan", "fraction"]),
        ({"max_leverage": None}, ["max_leverage=None", "cannot be switched off"]),
        ({}, ["SET_LIMITS needs"]),
    ],
)
def test_set_limits_refusals(payload: dict[str, Any], fragments: list[str]) -> None:
    refusal = refused("SET_LIMITS", payload, "*")
    for fragment in fragments:
        assert fragment in refusal.error


@pytest.mark.parametrize(
    ("payload", "account", "fragments"),
    [
        ({"cash": float("nan")}, "ACC1", ["cash=nan", "finite"]),
        ({"cash": float("inf")}, "ACC1", ["cash=inf", "finite"]),
        ({"cash": True}, "ACC1", ["cash=True", "finite number"]),
        ({"cash": "lots"}, "ACC1", ["cash='lots'"]),
        ({"cash": None}, "ACC1", ["cash=None"]),
        ({}, "ACC1", ["cash: missing"]),
        ({"amount": 5}, "ACC1", ["field='amount'", "valid: cash"]),
        ({"cash": 5}, "*", ["account='*'", "one account"]),
        ({"cash": 5}, None, ["account=None", "one account"]),
    ],
)
def test_set_cash_refusals(
    payload: dict[str, Any], account: str | None, fragments: list[str]
) -> None:
    refusal = refused("SET_CASH", payload, account)
    for fragment in fragments:
        assert fragment in refusal.error


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({"scenario_id": "s", "shocks": {"AAPL": float("nan")}}, ["shocks[AAPL]=nan"]),
        ({"scenario_id": "s", "shocks": {"AAPL": -1.5}}, ["shocks[AAPL]=-1.5", "below -1"]),
        ({"scenario_id": "s", "shock": {"AAPL": -0.1}}, ["field='shock'", "did you mean 'shocks'"]),
        ({"shocks": {}}, ["scenario_id: missing"]),
        ({"scenario_id": "s", "default_shock": "big"}, ["default_shock='big'"]),
    ],
)
def test_add_scenario_refusals(payload: dict[str, Any], fragments: list[str]) -> None:
    refusal = refused("ADD_SCENARIO", payload, None)
    for fragment in fragments:
        assert fragment in refusal.error


def test_other_commands_refuse_what_they_cannot_use() -> None:
    assert "rule_id" in refused("REMOVE_RULE", {}).error
    assert "field='reason'" in refused("HALT", {"reason": "lunch"}).error
    assert "account='*'" in refused("RUN_STRESS", {}, "*").error
    assert "not a known command" in refused("LIQUIDATE", {}).error


def test_flatten_takes_a_reason_and_the_fan_out_partition_only() -> None:
    assert check_command("FLATTEN", "ACC1", {"reason": "desk stop"}) is None
    assert check_command("FLATTEN", "*", {"reason": "firm stop", "partition": 3}) is None
    assert "reason" in refused("FLATTEN", {"reason": ["not", "text"]}).error
    assert "field='urgency'" in refused("FLATTEN", {"urgency": "now"}).error
