"""Monitoring rules and stress scenarios: shipped YAML, then live changes.

The YAML file (REDFIRE_RULES_FILE / REDFIRE_SCENARIOS_FILE, or the defaults in
``redfire/config``) gives the starting set; ADD_RULE / REMOVE_RULE /
ADD_SCENARIO commands write the global ``rules`` / ``scenarios`` tables, whose
entries win over the file's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

from redfire.app import settings
from redfire.risk.rules import MonitoringRule, parse_rules_yaml, rule_from_payload
from redfire.risk.stress import StressScenario, parse_scenarios_yaml, scenario_from_payload
from redfire.tables import definitions as tables
from redfire.tables import mirrors
from redfire.tables.mirror import Mirror
from redfire.tables.store import put_versioned

T = TypeVar("T")
REMOVED = "_removed"
log = logging.getLogger(__name__)


def config_text(path: Path | None, default_name: str) -> str:
    """Return the configured file's text, or the shipped default's."""
    if path is not None:
        try:
            return path.read_text()
        except OSError as exc:
            raise RuntimeError(f"cannot read {path}: {exc}") from exc
    return resources.files("redfire.config").joinpath(default_name).read_text()


class ConfigSet(Generic[T]):
    """File entries overlaid by live entries from a global table."""

    def __init__(
        self,
        base: list[T],
        key: Callable[[T], str],
        table: Any,
        mirror: Mirror[dict[str, Any]],
        parse: Callable[[dict[str, Any]], T],
    ) -> None:
        self.base = {key(item): item for item in base}
        self.table = table
        self.mirror = mirror
        self.parse = parse
        self._cache: tuple[int, dict[str, T]] | None = None

    def all(self) -> dict[str, T]:
        """Return id → item, live entries applied."""
        if self._cache is not None and self._cache[0] == self.mirror.generation:
            return self._cache[1]
        items = dict(self.base)
        for key in list(self.table.keys()):
            value = self.mirror.get(key)
            if value is None or value.get(REMOVED):
                items.pop(key, None)
                continue
            try:
                items[key] = self.parse({k: v for k, v in value.items() if k[0] != "_"})
            except ValueError as exc:
                # Stored before today's validation (e.g. a rule on an unknown metric):
                # it could never work, so it is left out, loudly, instead of stopping the agent.
                log.error("ignoring stored %s %r: %s", self.table.name, key, exc)
        self._cache = (self.mirror.generation, items)
        return items

    def get(self, key: str) -> T | None:
        return self.all().get(key)

    def put(self, key: str, payload: dict[str, Any]) -> T:
        """Validate and store one live entry (raise ValueError when invalid)."""
        item = self.parse(payload)
        put_versioned(self.table, self.mirror, key, dict(payload))
        return item

    def remove(self, key: str) -> None:
        if key not in self.all():
            raise ValueError(f"no rule or scenario {key!r}")
        put_versioned(self.table, self.mirror, key, {REMOVED: True})


rule_set: ConfigSet[MonitoringRule] = ConfigSet(
    parse_rules_yaml(
        config_text(settings.rules_file, "rules.default.yaml"),
        source=str(settings.rules_file or "rules.default.yaml"),
    ),
    lambda rule: rule.rule_id,
    tables.rules,
    mirrors.rules,
    rule_from_payload,
)
scenario_set: ConfigSet[StressScenario] = ConfigSet(
    parse_scenarios_yaml(config_text(settings.scenarios_file, "scenarios.default.yaml")),
    lambda scenario: scenario.scenario_id,
    tables.scenarios,
    mirrors.scenarios,
    scenario_from_payload,
)
