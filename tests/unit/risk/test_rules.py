"""Monitoring rules: transitions, cooldown, frequency, comparisons, scope and payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from redfire.risk.rules import (
    FIRING,
    RESOLVED,
    MonitoringRule,
    RuleOutcome,
    RuleState,
    alert_message,
    applies_to,
    evaluate,
    parse_duration_ms,
    parse_rules_yaml,
    rule_from_payload,
    rule_to_payload,
)

DEFAULT_RULES = Path(__file__).parents[3] / "redfire" / "config" / "rules.default.yaml"


def make_rule(**changes: Any) -> MonitoringRule:
    fields: dict[str, Any] = {
        "rule_id": "dd",
        "name": "drawdown",
        "metric": "drawdown",
        "comparison": ">",
        "threshold": 0.1,
        "cooldown_ms": 1_000,
    }
    fields.update(changes)
    return MonitoringRule(**fields)


def run_sequence(
    rule: MonitoringRule, points: list[tuple[int, float | None]], account: str = "ACC"
) -> list[RuleOutcome]:
    state = RuleState()
    outcomes = []
    for ts, value in points:
        metrics = {} if value is None else {rule.metric: value}
        outcome = evaluate(rule, state, metrics, account, ts)
        outcomes.append(outcome)
        state = outcome.new_state
    return outcomes


def test_firing_resolved_and_cooldown_sequence() -> None:
    outcomes = run_sequence(
        make_rule(),
        [
            (0, 0.05),  # clear
            (100, 0.15),  # starts to hold: FIRING
            (200, 0.20),  # still holds: nothing
            (300, 0.05),  # stops: RESOLVED
            (400, 0.15),  # re-breach inside the cooldown: suppressed
            (500, 0.05),  # clear again; nothing to resolve
            (900, 0.15),  # still inside the cooldown (fired at 100)
            (1_100, 0.15),  # cooldown over and still holding: FIRING
            (1_200, 0.05),  # RESOLVED
        ],
    )
    assert [outcome.transition for outcome in outcomes] == [
        None,
        FIRING,
        None,
        RESOLVED,
        None,
        None,
        None,
        FIRING,
        RESOLVED,
    ]
    assert outcomes[4].reason == "suppressed by cooldown"
    assert outcomes[4].new_state.firing is False
    assert outcomes[7].new_state.last_fired_ts == 1_100


def test_suppressed_breach_fires_at_the_first_evaluation_after_the_cooldown() -> None:
    outcomes = run_sequence(make_rule(), [(0, 0.2), (10, 0.0), (20, 0.2), (999, 0.2), (1_000, 0.2)])
    assert [outcome.transition for outcome in outcomes] == [FIRING, RESOLVED, None, None, FIRING]


def test_evaluations_closer_than_the_frequency_are_skipped() -> None:
    outcomes = run_sequence(make_rule(frequency_ms=500), [(0, 0.0), (499, 0.2), (500, 0.2)])
    assert [outcome.reason for outcome in outcomes] == ["clear", "not due", "fired"]
    assert outcomes[1].new_state.last_eval_ts == 0


def test_missing_metric_changes_nothing() -> None:
    outcomes = run_sequence(make_rule(), [(0, 0.2), (10, None), (20, float("nan")), (30, 0.0)])
    assert [outcome.transition for outcome in outcomes] == [FIRING, None, None, RESOLVED]
    assert outcomes[1].reason == "metric missing"
    assert outcomes[1].new_state == outcomes[0].new_state
    assert outcomes[1].value is None


@pytest.mark.parametrize(
    ("comparison", "holds_below", "holds_at", "holds_above"),
    [
        (">", False, False, True),
        (">=", False, True, True),
        ("<", True, False, False),
        ("<=", True, True, False),
        ("==", False, True, False),
        ("!=", True, False, True),
    ],
)
def test_every_comparison(
    comparison: str, holds_below: bool, holds_at: bool, holds_above: bool
) -> None:
    rule = make_rule(comparison=comparison, threshold=0.3, cooldown_ms=0)
    for value, holds in ((0.2, holds_below), (0.1 + 0.2, holds_at), (0.4, holds_above)):
        outcome = evaluate(rule, RuleState(), {"drawdown": value}, "ACC", 0)
        assert (outcome.transition == FIRING) is holds, (comparison, value)


def test_disabling_a_firing_rule_resolves_it_once() -> None:
    fired = evaluate(make_rule(), RuleState(), {"drawdown": 0.5}, "ACC", 0)
    disabled = make_rule(enabled=False)
    first = evaluate(disabled, fired.new_state, {"drawdown": 0.5}, "ACC", 10)
    second = evaluate(disabled, first.new_state, {"drawdown": 0.5}, "ACC", 20)
    assert (first.transition, second.transition) == (RESOLVED, None)


@pytest.mark.parametrize(
    ("scope", "account", "key", "applies"),
    [
        ("account", None, "ACC", True),
        ("account", None, "FIRM", False),
        ("account", "ACC", "ACC", True),
        ("account", "ACC", "OTHER", False),
        ("all", None, "ACC", True),
        ("all", None, "FIRM", True),
        ("FIRM", None, "FIRM", True),
        ("FIRM", None, "ACC", False),
    ],
)
def test_scope(scope: str, account: str | None, key: str, applies: bool) -> None:
    rule = make_rule(scope=scope, account=account)
    assert applies_to(rule, key) is applies
    outcome = evaluate(rule, RuleState(), {"drawdown": 0.5}, key, 0)
    assert (outcome.transition == FIRING) is applies


def test_payload_accepts_seed_aliases_and_durations() -> None:
    rule = rule_from_payload(
        {
            "rule_id": "CUSTOM_VAR_LIMIT",
            "metric_name": "var_95_ratio",
            "threshold": "0.03",
            "comparison": ">",
            "severity": "critical",
            "frequency": "REAL_TIME",
            "cooldown": "5m",
            "scope": "firm",
            "action": "HALT",
        }
    )
    assert rule.metric == "var_equity_ratio"  # seed 000's name, stored as the catalogue's
    assert rule.name == "CUSTOM_VAR_LIMIT"
    assert rule.threshold == 0.03
    assert (rule.severity, rule.scope, rule.action) == ("CRITICAL", "FIRM", "halt")
    assert (rule.frequency_ms, rule.cooldown_ms) == (0, 300_000)
    assert rule_from_payload(rule_to_payload(rule)) == rule


@pytest.mark.parametrize(
    ("value", "ms"), [(250, 250), ("250", 250), ("500ms", 500), ("1.5s", 1_500), ("1h", 3_600_000)]
)
def test_durations(value: object, ms: int) -> None:
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"comparison": "=>"}, "comparison"),
        ({"severity": "HIGH"}, "severity"),
        ({"scope": "desk"}, "scope"),
        ({"action": "liquidate"}, "action"),
        ({"threshold": None}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"threshold": float("inf")}, "threshold"),
        ({"cooldown_ms": -1}, "cooldown_ms"),
        ({"frequency": "sometimes"}, "frequency_ms"),
        ({"metric": ""}, "metric"),
        ({"colour": "red"}, "colour"),
        ({"scope": "all", "account": "ACC"}, "account"),
    ],
)
def test_payload_errors_say_what_is_wrong(changes: dict[str, Any], error: str) -> None:
    payload = {**rule_to_payload(make_rule()), **changes}
    with pytest.raises(ValueError, match=error):
        rule_from_payload(payload)


def test_default_rules_file_parses() -> None:
    rules = parse_rules_yaml(DEFAULT_RULES.read_text())
    by_id = {rule.rule_id: rule for rule in rules}
    assert by_id["var_equity_3pct"].metric == "var_equity_ratio"
    assert by_id["daily_loss_50k"].comparison == "<"
    halts = [rule for rule in rules if rule.action == "halt"]
    assert halts
    assert all(rule.severity == "CRITICAL" for rule in halts)
    metrics = {rule.metric for rule in rules}
    assert {"var_equity_ratio", "daily_pnl", "drawdown", "concentration"} <= metrics
    assert {"leverage", "reject_ratio"} <= metrics


def test_rules_yaml_rejects_duplicate_ids_and_points_at_the_entry() -> None:
    entry = "- {rule_id: a, metric: equity, comparison: '>', threshold: 1}\n"
    with pytest.raises(ValueError, match="duplicate"):
        parse_rules_yaml(entry + entry)
    with pytest.raises(ValueError, match="rule #2"):
        parse_rules_yaml(entry + "- {rule_id: b, metric: equity, comparison: '>'}\n")
    assert parse_rules_yaml("") == []


def test_alert_message_names_metric_value_and_threshold() -> None:
    message = alert_message(make_rule(), 0.215, FIRING)
    assert "drawdown 0.215 > 0.1" in message
    assert FIRING in message
