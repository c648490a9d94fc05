"""Live configuration: limits, monitoring rules and stress scenarios.

Files give the starting set (REDFIRE_LIMITS_FILE, REDFIRE_RULES_FILE,
REDFIRE_SCENARIOS_FILE or the shipped defaults); commands change it at run
time through the global ``limits``, ``rules`` and ``scenarios`` tables, whose
entries win over the files'. Every worker mirrors those tables here, and the
effective values are cached until one of them changes.

Each live entry carries a ``_version`` one above the one it replaced, so a
changelog record read back late never undoes a newer change.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

from redfire.risk.limits import LimitBook, Limits
from redfire.risk.rules import MonitoringRule
from redfire.risk.stress import StressScenario
from redfire.risk.vocabulary import ACTIVE, ALL_ACCOUNTS, TradingState

T = TypeVar("T")
REMOVED = "_removed"
VERSION = "_version"
# The key in the limits table under which HALT/RESUME for "*" keep the firm's state.
FIRM_STATE_KEY = "__firm__"


def config_text(path: Path | None, default_name: str, setting: str) -> str:
    """Return the configured file's text, or the shipped default's."""
    if path is not None:
        try:
            return path.read_text()
        except OSError as exc:
            raise RuntimeError(f"cannot read {setting}={path}: {exc}") from exc
    return resources.files("redfire.config").joinpath(default_name).read_text()


class VersionedEntries:
    """Key → the newest live entry (by ``_version``) from local writes and changelogs."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.generation = 0

    def get(self, key: str) -> dict[str, Any] | None:
        return self.values.get(key)

    def next_version(self, key: str) -> int:
        return int((self.values.get(key) or {}).get(VERSION, 0)) + 1

    def apply(self, key: str, value: dict[str, Any] | None) -> bool:
        """Take ``value`` unless it is older than the entry held; return True if taken."""
        current = self.values.get(key)
        if value is None:
            if current is None:
                return False
            del self.values[key]
        elif current is not None and int(value.get(VERSION, 0)) < int(current.get(VERSION, 0)):
            return False
        else:
            self.values[key] = value
        self.generation += 1
        return True


class ConfigSet(Generic[T]):
    """File entries overlaid by live entries (an entry marked removed hides one)."""

    def __init__(self, base: list[T], key: Callable[[T], str], parse: Callable[[Any], T]) -> None:
        self.base = {key(item): item for item in base}
        self.entries = VersionedEntries()
        self.parse = parse
        self._cache: tuple[int, dict[str, T]] | None = None

    def all(self) -> dict[str, T]:
        """Return id → item, live entries applied."""
        if self._cache is not None and self._cache[0] == self.entries.generation:
            return self._cache[1]
        items = dict(self.base)
        for key, value in self.entries.values.items():
            if value.get(REMOVED):
                items.pop(key, None)
            else:
                items[key] = self.parse({k: v for k, v in value.items() if not k.startswith("_")})
        self._cache = (self.entries.generation, items)
        return items

    def get(self, key: str) -> T | None:
        return self.all().get(key)

    def entry(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the live table value that stores ``payload`` under ``key``."""
        return {**payload, VERSION: self.entries.next_version(key)}

    def removal(self, key: str) -> dict[str, Any]:
        return {REMOVED: True, VERSION: self.entries.next_version(key)}


class LiveConfig:
    """Every worker's view of limits, rules, scenarios and the firm trading state."""

    def __init__(
        self,
        limits: LimitBook,
        rules: ConfigSet[MonitoringRule],
        scenarios: ConfigSet[StressScenario],
    ) -> None:
        self.limit_book = limits
        self.limit_overrides = VersionedEntries()
        self.rules = rules
        self.scenarios = scenarios
        self._limits_cache: dict[str, tuple[int, Limits]] = {}

    def limits_for(self, account: str) -> Limits:
        """Return the account's limits with every live override applied."""
        generation = self.limit_overrides.generation
        cached = self._limits_cache.get(account)
        if cached is not None and cached[0] == generation:
            return cached[1]
        book = self.limit_book
        for key in (ALL_ACCOUNTS, account):
            overrides = self.overrides(key)
            if overrides:
                book = book.with_update(key, overrides)
        limits = book.for_account(account)
        self._limits_cache[account] = (generation, limits)
        return limits

    def overrides(self, key: str) -> dict[str, Any]:
        value = self.limit_overrides.get(key)
        if not value:
            return {}
        return {k: v for k, v in value.items() if not k.startswith("_")}

    def limit_entry(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Return the live ``limits`` value that adds ``changes`` to the key's overrides."""
        merged = {**(self.limit_overrides.get(key) or {}), **changes}
        merged[VERSION] = self.limit_overrides.next_version(key)
        return merged

    def firm_trading_state(self) -> TradingState:
        """Return the firm-wide state set by HALT/RESUME/REDUCE_ONLY for ``*``."""
        raw = self.limit_overrides.get(FIRM_STATE_KEY) or {}
        state: TradingState = raw.get("trading_state", ACTIVE)
        return state

    def firm_state_entry(self, state: TradingState) -> dict[str, Any]:
        current = dict(self.limit_overrides.get(FIRM_STATE_KEY) or {})
        current.update(trading_state=state)
        current[VERSION] = self.limit_overrides.next_version(FIRM_STATE_KEY)
        return current
