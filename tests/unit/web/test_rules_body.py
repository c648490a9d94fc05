"""GET /rules body: every active rule with its last states, and the metric catalogue."""

from __future__ import annotations

from redfire.risk.rule_metrics import RULE_METRICS
from redfire.risk.rules import RuleState, rule_from_payload
from redfire.web.rules import rules_body


def test_rules_body_lists_rules_states_and_metrics() -> None:
    rule = rule_from_payload(
        {"rule_id": "pos", "metric": "open_positions", "comparison": ">", "threshold": 5}
    )
    states = {
        "pos": {
            "ACC2": RuleState(firing=False, last_eval_ts=10, last_value=1.0),
            "ACC1": RuleState(firing=True, last_fired_ts=9, last_eval_ts=10, last_value=7.0),
        }
    }
    body = rules_body({"pos": rule}, states)
    (listed,) = body["rules"]
    assert listed["metric"] == "open_positions"
    assert listed["firing"] == ["ACC1"]
    assert listed["states"]["ACC1"] == {
        "firing": True,
        "last_fired_ts": 9,
        "last_eval_ts": 10,
        "last_value": 7.0,
    }
    assert [m["metric"] for m in body["metrics"]] == list(RULE_METRICS)
