"""HTTP views served by faust web (port 6066), registered on a built engine."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from redfire.risk.rules import RuleState
from redfire.risk.vocabulary import FIRM

if TYPE_CHECKING:
    from redfire.app import Engine


def register_views(engine: Engine) -> None:
    """Register every route of DESIGN §9 on the engine's app, behind the access policy."""
    from redfire.web import admin, auth, live, orders, reports, rules, views

    auth.install_auth(engine.app, engine.settings)
    views.register(engine, reports.register(engine))
    orders.register(engine)
    admin.register(engine)
    rules.register_rules_view(
        engine.app,
        engine.state.config.rules.all,
        lambda account: known_rule_states(engine, account),
        engine.app.tables["accounts"],
    )
    live.register_live(engine.app, engine.settings)


def known_rule_states(engine: Engine, account: str | None) -> dict[str, dict[str, RuleState]]:
    """Return rule_id → account (or FIRM) → state, for the keys this worker evaluates."""
    found: dict[str, dict[str, RuleState]] = defaultdict(dict)
    state = engine.state
    if account is None:
        aggregates = list(state.accounts.values())
    else:
        known = state.known_account(account)
        aggregates = [] if known is None else [known]
    for aggregate in aggregates:
        for rule_id, rule_state in aggregate.rule_states.items():
            if rule_state.last_eval_ts is not None:
                found[rule_id][aggregate.name] = rule_state
    if account in (None, FIRM):
        for rule_id, rule_state in engine.desks.firm.rule_states.items():
            if rule_state.last_eval_ts is not None:
                found[rule_id][FIRM] = rule_state
    return dict(found)
