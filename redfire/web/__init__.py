"""HTTP views served by faust web (port 6066)."""

from redfire.agents.monitor import known_rule_states
from redfire.app import app
from redfire.tables import definitions as tables
from redfire.tables.config_store import rule_set
from redfire.web import admin, orders, rules, views

rules.register_rules_view(app, rule_set.all, known_rule_states, tables.accounts)

__all__ = ["admin", "orders", "rules", "views"]
