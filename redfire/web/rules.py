"""``GET /rules``: the active monitoring rules, their last state, and the metric catalogue.

``GET /rules`` answers with every active rule (file and live ``ADD_RULE`` entries) and the
last state of each (rule, account) this worker evaluates; ``GET /rules?account=A`` is
answered by the worker that owns ``A`` and shows that account's states. ``metrics`` lists
every name a rule may watch (``redfire.risk.rule_metrics``).

Nothing here reaches for a global app: ``register_rules_view`` receives the app, where the
rules and states come from, and the table whose key placement routes ``?account=``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from faust import web
from faust.exceptions import SameNode
from faust.types import AppT, CollectionT

from redfire.risk.rule_metrics import catalogue
from redfire.risk.rules import MonitoringRule, RuleState, rule_to_payload

# rule_id → account (or FIRM) → last state; ``account`` narrows it to one account.
RuleStates = Mapping[str, Mapping[str, RuleState]]
RulesSource = Callable[[], Mapping[str, MonitoringRule]]
StatesSource = Callable[[str | None], RuleStates]


def state_body(state: RuleState) -> dict[str, Any]:
    """Return one (rule, account) state as JSON."""
    return {
        "firing": state.firing,
        "last_fired_ts": state.last_fired_ts,
        "last_eval_ts": state.last_eval_ts,
        "last_value": state.last_value,
    }


def rules_body(rules: Mapping[str, MonitoringRule], states: RuleStates) -> dict[str, Any]:
    """Return the body of ``GET /rules``: rules with their states, and the metric catalogue."""
    listed = []
    for rule_id in sorted(rules):
        by_account = states.get(rule_id, {})
        listed.append(
            {
                **rule_to_payload(rules[rule_id]),
                "firing": sorted(a for a, state in by_account.items() if state.firing),
                "states": {a: state_body(by_account[a]) for a in sorted(by_account)},
            }
        )
    return {"rules": listed, "metrics": catalogue()}


def register_rules_view(
    app: AppT, rules: RulesSource, states: StatesSource, owner_table: CollectionT
) -> None:
    """Serve ``GET /rules`` on ``app``; ``?account=`` goes to the owner of that key."""

    @app.page("/rules")
    async def rules_view(self: web.View, request: web.Request) -> web.Response:
        account = request.query.get("account")
        if account:
            try:
                return await app.router.route_req(owner_table.name, account, self.web, request)
            except SameNode:
                pass
        return self.json(rules_body(rules(), states(account or None)))
