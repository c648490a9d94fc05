"""Limits, per-account overrides and the YAML configuration."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from redfire.risk.limits import (
    LIMIT_NAMES,
    LimitBook,
    Limits,
    limit_book_from_payload,
    limit_docs,
    limits_to_payload,
    parse_limits_yaml,
)

EXAMPLE = Path(__file__).parents[3] / "redfire" / "config" / "limits.example.yaml"


def test_defaults_are_valid_and_documented() -> None:
    limits = Limits()
    assert limits.max_order_notional == 1_000_000
    assert limits.max_position_qty is None
    assert set(limit_docs()) == set(LIMIT_NAMES)


def test_account_overrides_merge_over_the_default() -> None:
    book = LimitBook(per_account={"ACC": {"max_order_qty": 5, "max_var": 1000}})
    limits = book.for_account("ACC")
    assert limits.max_order_qty == 5
    assert limits.max_var == 1000
    assert limits.max_order_notional == Limits().max_order_notional
    assert book.for_account("OTHER") == Limits()


def test_unknown_limit_name_lists_the_valid_names() -> None:
    with pytest.raises(ValueError) as error:
        LimitBook().with_update("ACC", {"max_ordr_qty": 5})
    assert "max_ordr_qty" in str(error.value)
    assert "max_order_qty" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_order_qty", -1),
        ("max_order_qty", float("inf")),
        ("max_order_qty", True),
        ("max_order_qty", "lots"),
        ("price_collar_pct", 5),
        ("price_collar_pct", 0),
        ("max_active_orders", 2.5),
        ("order_rate_window_ms", 0),
        ("order_rate_window_ms", None),
        ("max_leverage", 0),
        ("check_lot_size", "yes please"),
        ("restricted_symbols", "AAPL"),
        ("max_position_qty_by_symbol", {"AAPL": -1}),
    ],
)
def test_invalid_values_are_rejected_naming_the_limit(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        LimitBook().with_update(None, {name: value})


def test_values_are_coerced_to_their_kind() -> None:
    book = LimitBook().with_update(
        "ACC",
        {
            "max_order_qty": "1000",
            "max_active_orders": 10.0,
            "max_var": "off",
            "check_tick_size": "false",
            "restricted_symbols": ["AAPL", "TSLA"],
        },
    )
    limits = book.for_account("ACC")
    assert limits.max_order_qty == 1000.0
    assert limits.max_active_orders == 10
    assert isinstance(limits.max_active_orders, int)
    assert limits.max_var is None
    assert limits.check_tick_size is False
    assert limits.restricted_symbols == frozenset({"AAPL", "TSLA"})


def test_limits_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="max_drawdown"):
        Limits(max_drawdown=20)


@pytest.mark.parametrize("account", [None, "*"])
def test_update_without_an_account_changes_the_default(account: str | None) -> None:
    book = LimitBook(per_account={"ACC": {"max_order_qty": 5}})
    updated = book.with_update(account, {"max_order_notional": 10})
    assert updated.default.max_order_notional == 10
    assert updated.for_account("ACC").max_order_notional == 10
    assert updated.for_account("ACC").max_order_qty == 5


def test_update_returns_a_new_book_and_keeps_other_overrides() -> None:
    book = LimitBook(per_account={"ACC": {"max_order_qty": 5}})
    updated = book.with_update("ACC", {"max_var": 7})
    assert book.for_account("ACC").max_var is None
    assert updated.for_account("ACC").max_order_qty == 5
    assert updated.for_account("ACC").max_var == 7
    assert updated.without_overrides("ACC").for_account("ACC") == Limits()


def test_a_failed_update_leaves_the_book_unchanged() -> None:
    book = LimitBook()
    with pytest.raises(ValueError):
        book.with_update("ACC", {"max_order_qty": 5, "bogus": 1})
    assert book.per_account == {}


def test_yaml_example_documents_every_field_with_its_default() -> None:
    text = EXAMPLE.read_text()
    document = yaml.safe_load(text)
    assert set(document["default"]) == set(LIMIT_NAMES)
    book = parse_limits_yaml(text)
    assert book.default == Limits()
    assert book.for_account("DEMO-US").max_leverage == 2.0
    assert book.for_account("DEMO-HK").max_position_qty_by_symbol == {"0700.HK": 20000.0}


def test_empty_yaml_gives_the_defaults() -> None:
    assert parse_limits_yaml("") == LimitBook()


def test_yaml_errors_name_the_account_or_key() -> None:
    with pytest.raises(ValueError, match="ACC"):
        parse_limits_yaml("accounts:\n  ACC:\n    max_order_qty: -5\n")
    with pytest.raises(ValueError, match="defaults"):
        parse_limits_yaml("defaults:\n  max_order_qty: 5\n")


def test_payload_round_trips() -> None:
    book = LimitBook().with_update(
        "ACC", {"restricted_symbols": ["X"], "max_position_qty_by_symbol": {"X": 10}}
    )
    payload = book.to_payload()
    assert yaml.safe_load(yaml.safe_dump(payload)) == payload
    assert limit_book_from_payload(payload) == book
    assert limits_to_payload(Limits())["restricted_symbols"] == []


def test_limits_and_books_pickle() -> None:
    book = LimitBook().with_update("ACC", {"max_position_qty_by_symbol": {"X": 10}})
    assert pickle.loads(pickle.dumps(book)) == book
    limits = book.for_account("ACC")
    assert pickle.loads(pickle.dumps(limits)) == limits
