"""The outcome of one pre-trade check, shared by ``checks`` and ``market_rules``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check; ``value`` and ``limit`` are what was compared, when numeric."""

    check: str
    passed: bool
    value: float | None
    limit: float | None
    message: str
