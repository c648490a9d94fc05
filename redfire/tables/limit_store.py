"""Effective pre-trade limits: the YAML file, then live overrides from risk_commands.

Overrides live in the global ``limits`` table (key: account, or ``*`` for the
default). The effective ``Limits`` of an account are cached and rebuilt only
when the table changes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from redfire.app import settings
from redfire.risk.limits import LimitBook, Limits, parse_limits_yaml, validate_changes
from redfire.tables import definitions as tables
from redfire.tables import mirrors
from redfire.tables.store import put_versioned

log = logging.getLogger(__name__)
DEFAULT_KEY = "*"


def load_limit_book(path: Path | None) -> LimitBook:
    """Return the limits from REDFIRE_LIMITS_FILE, or the built-in defaults."""
    if path is None:
        return LimitBook()
    try:
        text = path.read_text()
    except OSError as exc:
        raise RuntimeError(f"cannot read REDFIRE_LIMITS_FILE={path}: {exc}") from exc
    return parse_limits_yaml(text)


class LimitStore:
    def __init__(self, base: LimitBook) -> None:
        self.base = base
        self._cache: dict[str, tuple[int, Limits]] = {}

    def for_account(self, account: str) -> Limits:
        """Return the account's limits with every live override applied."""
        generation = mirrors.limits.generation
        cached = self._cache.get(account)
        if cached is not None and cached[0] == generation:
            return cached[1]
        book = self.base
        for key in (DEFAULT_KEY, account):
            overrides = _overrides(key)
            if overrides:
                book = book.with_update(key, overrides)
        limits = book.for_account(account)
        self._cache[account] = (generation, limits)
        return limits

    def update(self, account: str | None, changes: dict[str, Any]) -> None:
        """Validate ``changes`` and store them as overrides (raise ValueError if bad)."""
        validate_changes(changes)
        key = account or DEFAULT_KEY
        merged = {**(mirrors.limits.get(key) or {}), **changes}
        put_versioned(tables.limits, mirrors.limits, key, merged)


def _overrides(key: str) -> dict[str, Any]:
    value = mirrors.limits.get(key)
    if not value:
        return {}
    return {k: v for k, v in value.items() if not k.startswith("_")}


limit_store = LimitStore(load_limit_book(settings.limits_file))
