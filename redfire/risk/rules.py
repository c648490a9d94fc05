"""Monitoring rules (DESIGN §8): a metric compared with a threshold, alerting on transitions.

A ``MonitoringRule`` is configuration; a ``RuleState`` is what one (rule, account) pair
remembers between evaluations; ``evaluate`` is a pure step from one state to the next::

    outcome = evaluate(rule, state, metrics, account, ts)
    table[(rule.rule_id, account)] = outcome.new_state
    if outcome.transition: emit a RiskAlert with state=outcome.transition

Transitions
  * FIRING once, when the condition starts to hold.
  * RESOLVED once, when a firing rule's condition stops holding (or the rule is disabled).
  * Cooldown: a new FIRING needs ``cooldown_ms`` since the last FIRING. A breach inside the
    cooldown is suppressed: no alert, the rule stays not firing (so no RESOLVED follows either),
    and it fires at the first evaluation after the cooldown where the condition still holds.
  * Frequency: an evaluation less than ``frequency_ms`` after the previous one is skipped.
  * A missing or non-finite metric is no evidence either way: no transition, state unchanged.
  * Values within a relative 1e-9 of the threshold count as equal to it, for every comparison
    (so ``0.1 + 0.2 > 0.3`` does not hold and ``0.1 + 0.2 == 0.3`` does).

Scope: ``account`` with an ``account`` field applies to that account only; ``account`` without
one applies to every account but ``FIRM``; ``FIRM`` applies to the firm-wide key only; ``all``
applies to every key, ``FIRM`` included.

Payloads (``ADD_RULE``, YAML) use the field names below; ``frequency``/``cooldown`` are accepted
for ``frequency_ms``/``cooldown_ms`` and may be numbers (ms), durations (``"500ms"``, ``"5s"``,
``"1m"``, ``"1h"``, ``"1d"``) or seed 000's names (``REAL_TIME``, ``SECOND``, ``MINUTE``,
``HOURLY``, ``DAILY``); ``metric_name`` is accepted for ``metric``.

Validation: ``metric`` must be in the catalogue (``rule_metrics.RULE_METRICS``; seed aliases
such as ``var_95_ratio`` are stored under the catalogue name), because a rule on an unknown
metric would never fire. Every refusal is an ``InvalidField`` naming the rule, the field, the
bad value and the valid choices.

Actions: ``alert``, ``reduce_only``, ``halt`` and ``flatten`` (the emergency stop that also
closes every position; CRITICAL only, and not at scope ``FIRM``, where no account is acted on).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

import yaml

from redfire.risk.rule_metrics import RULE_METRICS, canonical_metric
from redfire.risk.validation import (
    MISSING,
    InvalidField,
    finite_number,
    require_choice,
    require_known_fields,
)


def _close(value: float, threshold: float) -> bool:
    """Tell whether two values are equal up to float rounding (relative 1e-9)."""
    return math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)


COMPARISONS: Mapping[str, Callable[[float, float], bool]] = MappingProxyType(
    {
        ">": lambda value, threshold: value > threshold and not _close(value, threshold),
        ">=": lambda value, threshold: value > threshold or _close(value, threshold),
        "<": lambda value, threshold: value < threshold and not _close(value, threshold),
        "<=": lambda value, threshold: value < threshold or _close(value, threshold),
        "==": _close,
        "!=": lambda value, threshold: not _close(value, threshold),
    }
)
SEVERITIES = ("INFO", "WARNING", "CRITICAL")
SCOPES = ("account", "all", "FIRM")
# ``flatten`` is the whole emergency stop: HALT, cancel every live order, and close every
# position with a MARKET order on ``emergency_orders`` (seed 002: closing needs CRITICAL).
ACTIONS = ("alert", "reduce_only", "halt", "flatten")
FLATTEN = "flatten"
FIRM = "FIRM"
FIRING = "FIRING"
RESOLVED = "RESOLVED"

NAMED_FREQUENCIES_MS: Mapping[str, int] = MappingProxyType(
    {
        "REAL_TIME": 0,
        "SECOND": 1_000,
        "MINUTE": 60_000,
        "HOURLY": 3_600_000,
        "HOUR": 3_600_000,
        "DAILY": 86_400_000,
        "DAY": 86_400_000,
    }
)
_DURATION_UNITS_MS: Mapping[str, int] = MappingProxyType(
    {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_ALIASES: Mapping[str, str] = MappingProxyType(
    {"metric_name": "metric", "frequency": "frequency_ms", "cooldown": "cooldown_ms"}
)


@dataclass(frozen=True, slots=True)
class MonitoringRule:
    """Alert (and optionally act) when ``metric comparison threshold`` holds."""

    rule_id: str
    name: str
    metric: str
    comparison: str
    threshold: float
    severity: str = "WARNING"
    scope: str = "account"
    account: str | None = None
    frequency_ms: int = 0
    cooldown_ms: int = 60_000
    action: str = "alert"
    enabled: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        try:
            self._validate()
        except InvalidField as error:
            raise error.within(f"rule {self.rule_id!r}") from None

    def _validate(self) -> None:
        for text_field in ("rule_id", "name", "metric"):
            value = getattr(self, text_field)
            if not isinstance(value, str) or value == "":
                raise InvalidField(text_field, value, "expected a non-empty string")
        if self.metric not in RULE_METRICS:
            canonical_metric(self.metric)  # raises, listing the catalogue
        require_choice("comparison", self.comparison, tuple(COMPARISONS))
        require_choice("severity", self.severity, SEVERITIES)
        require_choice("scope", self.scope, SCOPES)
        require_choice("action", self.action, ACTIONS)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise InvalidField("threshold", self.threshold, "expected a finite number")
        finite_number("threshold", self.threshold)
        for duration in ("frequency_ms", "cooldown_ms"):
            value = getattr(self, duration)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidField(duration, value, "expected a whole number of ms >= 0")
        if self.account is not None and self.scope != "account":
            raise InvalidField(
                "account", self.account, f"only meaningful with scope 'account', not {self.scope!r}"
            )
        if self.action == FLATTEN and self.severity != "CRITICAL":
            raise InvalidField(
                "severity", self.severity, "action flatten closes every position: use CRITICAL"
            )
        if self.action == FLATTEN and self.scope == FIRM:
            raise InvalidField(
                "scope",
                self.scope,
                "action flatten acts on accounts: use 'account' or 'all' "
                "(to flatten every account send FLATTEN '*')",
            )


@dataclass(frozen=True, slots=True)
class RuleState:
    """What one (rule, account) pair remembers between evaluations."""

    firing: bool = False
    last_fired_ts: int | None = None
    last_eval_ts: int | None = None
    last_value: float | None = None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The result of one evaluation: the next state, the alert to send (if any) and why."""

    new_state: RuleState
    transition: str | None
    value: float | None
    reason: str


def applies_to(rule: MonitoringRule, account: str) -> bool:
    """Tell whether ``rule`` is evaluated for ``account`` (see the module docstring)."""
    if rule.scope == "all":
        return True
    if rule.scope == FIRM:
        return account == FIRM
    if rule.account is not None:
        return account == rule.account
    return account != FIRM


def condition_holds(rule: MonitoringRule, value: float) -> bool:
    """Tell whether ``value comparison threshold`` holds."""
    return COMPARISONS[rule.comparison](value, rule.threshold)


def _is_due(rule: MonitoringRule, state: RuleState, ts: int) -> bool:
    return state.last_eval_ts is None or ts - state.last_eval_ts >= rule.frequency_ms


def _cooled_down(rule: MonitoringRule, state: RuleState, ts: int) -> bool:
    return state.last_fired_ts is None or ts - state.last_fired_ts >= rule.cooldown_ms


def evaluate(
    rule: MonitoringRule,
    state: RuleState,
    metrics: Mapping[str, float],
    account: str,
    ts: int,
) -> RuleOutcome:
    """Evaluate ``rule`` for ``account`` at ``ts`` and return the next state and transition."""
    if not rule.enabled:
        if state.firing:
            return RuleOutcome(replace(state, firing=False), RESOLVED, None, "rule disabled")
        return RuleOutcome(state, None, None, "rule disabled")
    if not applies_to(rule, account):
        return RuleOutcome(state, None, None, "out of scope")
    if not _is_due(rule, state, ts):
        return RuleOutcome(state, None, None, "not due")
    value = metrics.get(rule.metric)
    if value is None or not math.isfinite(value):
        return RuleOutcome(state, None, None, "metric missing")
    return _step(rule, replace(state, last_eval_ts=ts, last_value=value), value, ts)


def _step(rule: MonitoringRule, state: RuleState, value: float, ts: int) -> RuleOutcome:
    holds = condition_holds(rule, value)
    if holds and state.firing:
        return RuleOutcome(state, None, value, "still firing")
    if holds and _cooled_down(rule, state, ts):
        return RuleOutcome(replace(state, firing=True, last_fired_ts=ts), FIRING, value, "fired")
    if holds:
        return RuleOutcome(state, None, value, "suppressed by cooldown")
    if state.firing:
        return RuleOutcome(replace(state, firing=False), RESOLVED, value, "resolved")
    return RuleOutcome(state, None, value, "clear")


def alert_message(rule: MonitoringRule, value: float | None, transition: str) -> str:
    """Return a one-line alert text, e.g. ``drawdown 0.2150 > 0.2 (CRITICAL, halt): FIRING``."""
    shown = "n/a" if value is None else f"{value:.6g}"
    return (
        f"{rule.name}: {rule.metric} {shown} {rule.comparison} {rule.threshold:g} "
        f"({rule.severity}, {rule.action}): {transition}"
    )


# --- payloads and YAML ----------------------------------------------------------------------

RULE_FIELDS: tuple[str, ...] = tuple(spec.name for spec in fields(MonitoringRule))
_REQUIRED = ("rule_id", "metric", "comparison", "threshold")


def parse_duration_ms(value: object, name: str = "duration") -> int:
    """Return milliseconds from a number (ms), a duration string or a named frequency."""
    expected = f"expected ms, a duration like '5s' or one of {', '.join(NAMED_FREQUENCIES_MS)}"
    if isinstance(value, bool):
        raise InvalidField(name, value, expected)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0 or value != int(value):
            raise InvalidField(name, value, "expected a whole number of ms >= 0")
        return int(value)
    if isinstance(value, str):
        named = NAMED_FREQUENCIES_MS.get(value.strip().upper())
        if named is not None:
            return named
        match = _DURATION.match(value)
        if match:
            return round(float(match.group(1)) * _DURATION_UNITS_MS[match.group(2) or "ms"])
    raise InvalidField(name, value, expected)


def rule_from_payload(payload: Mapping[str, Any]) -> MonitoringRule:
    """Build a rule from an ``ADD_RULE`` payload or a YAML entry.

    Raise ``InvalidField`` naming the rule, the field, the bad value and the valid choices.
    """
    if not isinstance(payload, Mapping):
        raise InvalidField("rule", payload, "expected a mapping of rule fields")
    values = {_ALIASES.get(str(key), str(key)): value for key, value in payload.items()}
    context = f"rule {values.get('rule_id')!r}"
    try:
        require_known_fields("a rule", list(values), RULE_FIELDS)
        missing = [name for name in _REQUIRED if values.get(name) is None]
        if missing:
            raise InvalidField(missing[0], MISSING, f"a rule needs {', '.join(_REQUIRED)}")
        return MonitoringRule(**_normalized(values))
    except InvalidField as error:
        if error.field.startswith("rule "):
            raise
        raise error.within(context) from None


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    """Convert payload values to the rule's field types, case-normalizing the enumerations."""
    out = dict(values)
    out.setdefault("name", out["rule_id"])
    out["threshold"] = finite_number("threshold", out["threshold"])
    if isinstance(out["metric"], str) and out["metric"]:
        out["metric"] = canonical_metric(out["metric"])
    for duration in ("frequency_ms", "cooldown_ms"):
        if duration in out:
            out[duration] = parse_duration_ms(out[duration], duration)
    if isinstance(out.get("severity"), str):
        out["severity"] = out["severity"].upper()
    if isinstance(out.get("scope"), str):
        scope = out["scope"]
        out["scope"] = FIRM if scope.upper() == FIRM else scope.lower()
    if isinstance(out.get("action"), str):
        out["action"] = out["action"].lower()
    if "enabled" in out:
        out["enabled"] = _flag(out["enabled"])
    return out


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise InvalidField("enabled", value, "expected true or false")


def rule_to_payload(rule: MonitoringRule) -> dict[str, Any]:
    """Return the rule as plain data that ``rule_from_payload`` reads back."""
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def parse_rules_yaml(text: str, source: str = "rules YAML") -> list[MonitoringRule]:
    """Parse a list of rules (or ``{rules: [...]}``) from YAML text; rule ids must be unique.

    Raise ValueError naming ``source`` (the file), the rule (id and position) and the field.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}") from None
    if document is None:
        return []
    entries = document.get("rules") if isinstance(document, Mapping) else document
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a list of rules or a mapping with a 'rules' list")
    try:
        rules = [_rule_at(index, entry) for index, entry in enumerate(entries)]
        _require_unique_ids(rules)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    return rules


def _rule_at(index: int, entry: object) -> MonitoringRule:
    if not isinstance(entry, Mapping):
        raise ValueError(f"rule #{index + 1} must be a mapping of rule fields, got {entry!r}")
    try:
        return rule_from_payload(entry)
    except ValueError as error:
        raise ValueError(f"rule #{index + 1}, {error}") from None


def _require_unique_ids(rules: list[MonitoringRule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.rule_id in seen:
            raise ValueError(f"duplicate rule_id {rule.rule_id!r}")
        seen.add(rule.rule_id)
