"""Field errors that say what is wrong: the field, the bad value and what would be valid.

Configuration reaches RedFire from YAML files and from ``risk_commands`` payloads typed by
people. A value that cannot be used is refused with an ``InvalidField`` whose message names
the field, repeats the value and lists the valid choices (with the nearest one when the
value looks like a typo), so the operator can fix it from the message alone::

    metric='gross_exposre': not a rule metric; valid: cash, daily_pnl, ... (did you mean
    'gross_exposure'?)
    cash: missing; expected a finite number
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Sequence
from typing import Final

MISSING: Final = object()  # the value of a field that was not given at all


class InvalidField(ValueError):
    """A value refused for one field; ``str()`` names the field, the value and the choices."""

    def __init__(
        self, field: str, value: object, expected: str, choices: Sequence[str] = ()
    ) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        self.choices = tuple(choices)
        super().__init__(self._message())

    def _message(self) -> str:
        if self.value is MISSING:
            message = f"{self.field}: missing; {self.expected}"
        else:
            message = f"{self.field}={self.value!r}: {self.expected}"
        if self.choices:
            message += f"; valid: {', '.join(self.choices)}"
            nearest = nearest_choice(self.value, self.choices)
            if nearest is not None:
                message += f" (did you mean {nearest!r}?)"
        return message

    def within(self, context: str) -> InvalidField:
        """Return the same error with ``context`` (e.g. ``rule 'dd'``) before the field."""
        return InvalidField(f"{context}: {self.field}", self.value, self.expected, self.choices)


def nearest_choice(value: object, choices: Sequence[str]) -> str | None:
    """Return the choice closest to ``value`` when it looks like a typo of one, else None."""
    if not isinstance(value, str) or not value:
        return None
    folded = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(value.lower(), list(folded), n=1, cutoff=0.75)
    return folded[matches[0]] if matches else None


def require_choice(field: str, value: object, choices: Collection[str]) -> str:
    """Return ``value`` when it is one of ``choices``; raise InvalidField listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise InvalidField(field, value, "not a valid choice", sorted(choices))


def finite_number(field: str, value: object) -> float:
    """Return ``value`` as a finite float: numbers or numeric strings, never bools or NaN/inf."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidField(field, value, "expected a finite number")
    try:
        number = float(value)
    except ValueError:
        raise InvalidField(field, value, "expected a finite number") from None
    if not math.isfinite(number):
        raise InvalidField(field, value, "expected a finite number, not NaN or infinity")
    return number


def non_empty_text(field: str, value: object) -> str:
    """Return ``value`` when it is a non-empty string; raise InvalidField otherwise."""
    if isinstance(value, str) and value.strip():
        return value
    raise InvalidField(field, value, "expected a non-empty string")


def require_known_fields(
    what: str, given: Collection[str], valid: Sequence[str], required: Sequence[str] = ()
) -> None:
    """Refuse fields of ``given`` not in ``valid`` and missing ``required`` ones, naming them."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise InvalidField("field", unknown[0], f"not a field of {what}", valid)
    missing = [name for name in required if name not in given]
    if missing:
        raise InvalidField(missing[0], MISSING, f"{what} needs it")
