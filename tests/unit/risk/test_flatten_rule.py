"""The flatten rule action: part of the vocabulary, CRITICAL only, never at scope FIRM."""

from __future__ import annotations

from typing import Any

import pytest

from redfire.risk.rules import ACTIONS, rule_from_payload

RULE: dict[str, Any] = {
    "rule_id": "dd-flatten",
    "metric": "drawdown",
    "comparison": ">",
    "threshold": 0.3,
    "severity": "CRITICAL",
    "action": "FLATTEN",
}


def test_flatten_is_an_action() -> None:
    assert "flatten" in ACTIONS
    assert rule_from_payload(RULE).action == "flatten"
    assert rule_from_payload({**RULE, "scope": "all"}).scope == "all"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": "WARNING"}, "severity=.WARNING.*use CRITICAL"),
        ({"scope": "FIRM"}, "scope=.FIRM."),
    ],
)
def test_flatten_rules_that_would_not_act_as_written_are_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rule_from_payload({**RULE, **change})
