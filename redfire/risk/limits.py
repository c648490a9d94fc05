"""Pre-trade limits: one ``Limits`` per account, from a default and per-account overrides.

``Limits`` is a frozen dataclass whose every field is validated on construction. Each field's
metadata carries its kind (how it is validated) and a one-line description; ``limit_docs()``
lists them. ``None`` switches an optional limit off.

``LimitBook`` holds the default ``Limits`` and the per-account overrides (name → value). The
account key ``"*"`` (or ``None``) in ``with_update`` means the default, as in ``risk_commands``.
Configuration comes from YAML text (``parse_limits_yaml``)::

    default:
      max_order_notional: 1000000
    accounts:
      ACC1:
        max_order_notional: 250000
        restricted_symbols: [TSLA]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import yaml

from redfire.risk.validation import InvalidField

LimitValue = float | int | bool | str | frozenset[str] | Mapping[str, float] | None
DEFAULT_ACCOUNT_KEYS = frozenset({"*"})


class Kind(StrEnum):
    """How a limit field is validated."""

    AMOUNT = "amount"  # finite number >= 0 (money or quantity)
    FRACTION = "fraction"  # finite number in (0, 1]
    POSITIVE = "positive"  # finite number > 0
    COUNT = "count"  # integer >= 0
    DURATION_MS = "duration_ms"  # integer > 0, milliseconds
    FLAG = "flag"  # bool
    SYMBOLS = "symbols"  # set of symbol strings
    SYMBOL_AMOUNTS = "symbol_amounts"  # symbol -> number >= 0
    NAME = "name"  # a non-empty string (a group name)


def _limit(default: Any, kind: Kind, doc: str, optional: bool = False) -> Any:
    """Declare a limit field with its validation kind and description."""
    meta = {"kind": kind, "doc": doc, "optional": optional}
    if kind is Kind.SYMBOL_AMOUNTS:
        return field(default_factory=lambda: MappingProxyType({}), metadata=meta, hash=False)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Limits:
    """Every pre-trade limit of one account; ``None`` switches an optional limit off."""

    max_order_qty: float | None = _limit(
        1_000_000, Kind.AMOUNT, "largest quantity of one order", optional=True
    )
    max_order_notional: float | None = _limit(
        1_000_000.0, Kind.AMOUNT, "largest qty × price of one order", optional=True
    )
    max_price_age_ms: int | None = _limit(
        60_000, Kind.DURATION_MS, "oldest reference price accepted, ms", optional=True
    )
    price_collar_pct: float | None = _limit(
        0.05, Kind.FRACTION, "largest |limit price − last| / last (fat finger)", optional=True
    )
    daily_limit_pct: float | None = _limit(
        0.10, Kind.FRACTION, "A-share main-board daily limit vs previous close", optional=True
    )
    growth_board_daily_limit_pct: float = _limit(
        0.20, Kind.FRACTION, "A-share STAR (688/689) and ChiNext (300/301) daily limit"
    )
    st_daily_limit_pct: float = _limit(0.05, Kind.FRACTION, "A-share main-board ST daily limit")
    check_lot_size: bool = _limit(True, Kind.FLAG, "enforce the market's lot rule")
    check_tick_size: bool = _limit(True, Kind.FLAG, "enforce the market's tick size")
    max_orders_per_window: int | None = _limit(
        100, Kind.COUNT, "new orders allowed per order_rate_window_ms", optional=True
    )
    order_rate_window_ms: int = _limit(1_000, Kind.DURATION_MS, "order-rate window, ms")
    max_cancels_per_window: int | None = _limit(
        100, Kind.COUNT, "cancels per cancel_rate_window_ms before new orders stop", optional=True
    )
    cancel_rate_window_ms: int = _limit(1_000, Kind.DURATION_MS, "cancel-rate window, ms")
    max_active_orders: int | None = _limit(
        500, Kind.COUNT, "open orders allowed at once", optional=True
    )
    max_position_qty: float | None = _limit(
        None, Kind.AMOUNT, "largest |position| in any symbol, shares", optional=True
    )
    max_position_qty_by_symbol: Mapping[str, float] = _limit(
        None, Kind.SYMBOL_AMOUNTS, "per-symbol |position| caps, overriding max_position_qty"
    )
    max_position_notional: float | None = _limit(
        5_000_000.0, Kind.AMOUNT, "largest |market value| in any symbol", optional=True
    )
    max_gross_exposure: float | None = _limit(
        20_000_000.0, Kind.AMOUNT, "largest sum of |market value| after the order", optional=True
    )
    max_net_exposure: float | None = _limit(
        10_000_000.0, Kind.AMOUNT, "largest |sum of market value| after the order", optional=True
    )
    max_concentration: float | None = _limit(
        0.5, Kind.FRACTION, "largest |symbol exposure| / gross exposure", optional=True
    )
    concentration_min_gross: float = _limit(
        1_000_000.0, Kind.AMOUNT, "gross exposure below which concentration is not checked"
    )
    max_leverage: float = _limit(
        1.0, Kind.POSITIVE, "buying power = (cash − reserved) × max_leverage"
    )
    max_daily_loss: float | None = _limit(
        None, Kind.AMOUNT, "loss (−daily PnL) at which risk-increasing orders stop", optional=True
    )
    max_drawdown: float | None = _limit(
        0.20,
        Kind.FRACTION,
        "drawdown from peak equity at which risk-increasing orders stop",
        optional=True,
    )
    max_var: float | None = _limit(
        None, Kind.AMOUNT, "largest VaR after the order, currency", optional=True
    )
    max_var_pct: float | None = _limit(
        0.05, Kind.FRACTION, "largest VaR after the order / equity", optional=True
    )
    restricted_symbols: frozenset[str] = _limit(
        frozenset(), Kind.SYMBOLS, "symbols this account may not trade"
    )
    # --- reference data and market rules (risk.market_rules) ---
    reject_untradable: bool = _limit(
        True, Kind.FLAG, "reject symbols the instrument master marks not tradable"
    )
    reject_unknown_instruments: bool = _limit(
        False, Kind.FLAG, "reject symbols missing from the instrument master (else suffix rules)"
    )
    check_fx_rate: bool = _limit(
        True, Kind.FLAG, "reject orders priced in a currency with no rate to the base currency"
    )
    max_fx_rate_age_ms: int | None = _limit(
        None, Kind.DURATION_MS, "oldest FX rate accepted, ms (master rates have no age)", True
    )
    check_t_plus_one: bool = _limit(
        True, Kind.FLAG, "XSHG/XSHE: sells within the start-of-day position less today's sells"
    )
    check_self_trade: bool = _limit(
        True, Kind.FLAG, "reject orders that would cross a live order of the account or group"
    )
    self_trade_group: str | None = _limit(
        None, Kind.NAME, "accounts with the same group name never trade with each other", True
    )

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = coerce_limit(spec.name, getattr(self, spec.name))
            object.__setattr__(self, spec.name, value)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, object]]]:
        """Pickle as plain data (read-only mappings do not pickle)."""
        return _limits_from_plain, (limits_to_payload(self),)


LIMIT_NAMES: tuple[str, ...] = tuple(spec.name for spec in fields(Limits))
_SPECS: Mapping[str, Any] = MappingProxyType({spec.name: spec for spec in fields(Limits)})


def limit_docs() -> dict[str, str]:
    """Return every limit name with its description and kind."""
    return {
        spec.name: f"{spec.metadata['doc']} ({spec.metadata['kind']}"
        + (", null = off)" if spec.metadata["optional"] else ")")
        for spec in fields(Limits)
    }


EXPECTED: Mapping[Kind, str] = MappingProxyType(
    {
        Kind.AMOUNT: "a finite number >= 0",
        Kind.FRACTION: "a fraction in (0, 1] (write 5% as 0.05)",
        Kind.POSITIVE: "a finite number > 0",
        Kind.COUNT: "a whole number >= 0",
        Kind.DURATION_MS: "a whole number of ms > 0",
        Kind.FLAG: "true or false",
        Kind.SYMBOLS: "a list of symbols",
        Kind.SYMBOL_AMOUNTS: "a mapping of symbol to a number >= 0",
        Kind.NAME: "a non-empty name",
    }
)


def expected(kind: Kind) -> str:
    """Return what a limit of ``kind`` accepts, in words."""
    return EXPECTED.get(kind, f"a value of kind {kind.value}")


def coerce_limit(name: str, value: object) -> LimitValue:
    """Return ``value`` converted to the type of limit ``name``.

    Raise ``InvalidField`` naming the limit, the bad value and what it accepts.
    """
    spec = _field_spec(name)
    kind: Kind = spec.metadata["kind"]
    if value is None or (isinstance(value, str) and value.strip().lower() in {"off", "none"}):
        if spec.metadata["optional"]:
            return None
        raise InvalidField(name, value, f"cannot be switched off (null); give {expected(kind)}")
    try:
        return _COERCERS[kind](value)
    except (TypeError, ValueError) as error:
        switch = ", or null to switch it off" if spec.metadata["optional"] else ""
        raise InvalidField(name, value, f"expected {expected(kind)}{switch} ({error})") from None


def _field_spec(name: str) -> Any:
    """Return the dataclass field of limit ``name``; raise InvalidField listing the names."""
    spec = _SPECS.get(name)
    if spec is not None:
        return spec
    raise InvalidField("limit", name, "not a known limit", LIMIT_NAMES)


def _number(value: object) -> float:
    """Return ``value`` as a finite float (numbers or numeric strings, never bools)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _amount(value: object) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError(f"must be >= 0, got {number}")
    return number


def _fraction(value: object) -> float:
    number = _number(value)
    if not 0 < number <= 1:
        raise ValueError(f"must be a fraction in (0, 1], got {number} (write 5% as 0.05)")
    return number


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be > 0, got {number}")
    return number


def _count(value: object) -> int:
    number = _number(value)
    if number < 0 or number != int(number):
        raise ValueError(f"must be a whole number >= 0, got {value!r}")
    return int(number)


def _duration(value: object) -> int:
    count = _count(value)
    if count == 0:
        raise ValueError("must be > 0 ms")
    return count


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise TypeError(f"expected true or false, got {value!r}")


def _symbols(value: object) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError(f"expected a list of symbols, got the string {value!r}")
    if not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(f"expected a list of symbols, got {value!r}")
    for symbol in value:
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"expected symbol strings, got {symbol!r}")
    return frozenset(value)


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected a non-empty name, got {value!r}")
    return value.strip()


def _symbol_amounts(value: object) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping of symbol to number, got {value!r}")
    converted: dict[str, float] = {}
    for symbol, amount in value.items():
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"expected symbol strings as keys, got {symbol!r}")
        converted[symbol] = _amount(amount)
    return MappingProxyType(converted)


_COERCERS: Mapping[Kind, Callable[[object], LimitValue]] = MappingProxyType(
    {
        Kind.AMOUNT: _amount,
        Kind.FRACTION: _fraction,
        Kind.POSITIVE: _positive,
        Kind.COUNT: _count,
        Kind.DURATION_MS: _duration,
        Kind.FLAG: _flag,
        Kind.SYMBOLS: _symbols,
        Kind.SYMBOL_AMOUNTS: _symbol_amounts,
        Kind.NAME: _name,
    }
)


def validate_changes(changes: Mapping[str, object]) -> dict[str, LimitValue]:
    """Return ``changes`` with every value coerced; raise ValueError on a bad name or value."""
    if not isinstance(changes, Mapping):
        raise ValueError(f"limit changes must be a mapping of name to value, got {changes!r}")
    return {str(name): coerce_limit(str(name), value) for name, value in changes.items()}


def apply_changes(limits: Limits, changes: Mapping[str, LimitValue]) -> Limits:
    """Return ``limits`` with ``changes`` (validated again) applied."""
    values: dict[str, Any] = dict(changes)
    return replace(limits, **values)


@dataclass(frozen=True, slots=True)
class LimitBook:
    """The default limits and each account's overrides."""

    default: Limits = field(default_factory=Limits)
    per_account: Mapping[str, Mapping[str, LimitValue]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        checked = {
            account: MappingProxyType(validate_changes(overrides))
            for account, overrides in self.per_account.items()
        }
        object.__setattr__(self, "per_account", MappingProxyType(checked))

    def __reduce__(self) -> tuple[Any, tuple[dict[str, object]]]:
        """Pickle as plain data (read-only mappings do not pickle)."""
        return limit_book_from_payload, (self.to_payload(),)

    def for_account(self, account: str) -> Limits:
        """Return the default limits with ``account``'s overrides applied."""
        overrides = self.per_account.get(account)
        if not overrides:
            return self.default
        return apply_changes(self.default, overrides)

    def with_update(self, account: str | None, changes: Mapping[str, object]) -> LimitBook:
        """Return a book with ``changes`` applied to ``account`` (``None`` or ``"*"``: default).

        Raise ValueError naming the valid limits when a name is unknown, or when a value is
        invalid; the book is unchanged then.
        """
        checked = validate_changes(changes)
        if account is None or account in DEFAULT_ACCOUNT_KEYS:
            return replace(self, default=apply_changes(self.default, checked))
        merged = {**self.per_account.get(account, {}), **checked}
        return replace(self, per_account={**self.per_account, account: merged})

    def without_overrides(self, account: str) -> LimitBook:
        """Return a book where ``account`` falls back to the default limits."""
        remaining = {name: values for name, values in self.per_account.items() if name != account}
        return replace(self, per_account=remaining)

    def to_payload(self) -> dict[str, object]:
        """Return the book as plain JSON/YAML data, the shape ``limit_book_from_payload`` reads."""
        return {
            "default": limits_to_payload(self.default),
            "accounts": {
                account: {name: _plain(value) for name, value in overrides.items()}
                for account, overrides in self.per_account.items()
            },
        }


def limits_to_payload(limits: Limits) -> dict[str, object]:
    """Return every limit as plain JSON/YAML data (sets become sorted lists)."""
    return {name: _plain(getattr(limits, name)) for name in LIMIT_NAMES}


def _limits_from_plain(payload: Mapping[str, object]) -> Limits:
    return apply_changes(Limits(), validate_changes(payload))


def _plain(value: LimitValue) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def limit_book_from_payload(payload: object) -> LimitBook:
    """Build a LimitBook from ``{"default": {...}, "accounts": {account: {...}}}``."""
    if payload is None:
        return LimitBook()
    if not isinstance(payload, Mapping):
        raise ValueError("limits configuration must be a mapping with 'default' and 'accounts'")
    unknown = set(payload) - {"default", "accounts"}
    if unknown:
        raise ValueError(
            f"unknown top-level limits keys {sorted(map(str, unknown))}; "
            "expected 'default' and 'accounts'"
        )
    default_changes = payload.get("default") or {}
    accounts = payload.get("accounts") or {}
    if not isinstance(accounts, Mapping):
        raise ValueError("'accounts' must map account ids to limit overrides")
    default = apply_changes(Limits(), validate_changes(default_changes))
    per_account = {str(name): _overrides(name, values) for name, values in accounts.items()}
    return LimitBook(default=default, per_account=per_account)


def _overrides(account: object, values: object) -> dict[str, LimitValue]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"overrides of account {account!r} must be a mapping of limit to value")
    try:
        return validate_changes(values)
    except ValueError as error:
        raise ValueError(f"account {account!r}: {error}") from None


def parse_limits_yaml(text: str) -> LimitBook:
    """Parse limits YAML text (see the module docstring); empty text gives the defaults."""
    return limit_book_from_payload(yaml.safe_load(text))
