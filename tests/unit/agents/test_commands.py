"""The command desk in-process: applied once, refused loudly."""

from __future__ import annotations

from typing import Any

from tests.support.engine import build_engine

T0 = 1_700_000_000_000


def command(
    command_id: str, name: str, account: str | None = "ACC1", **payload: Any
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "command": name,
        "account": account,
        "payload": payload,
        "ts": T0,
    }


def test_set_cash_applies_once_per_command() -> None:
    engine = build_engine()
    engine.commands(command("c1", "SET_CASH", cash=1000))
    engine.fills(
        {
            "fill_id": "f1",
            "order_id": "o1",
            "account": "ACC1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 1,
            "price": 100.0,
            "ts": T0,
        }
    )
    engine.commands(command("c1", "SET_CASH", cash=1000))

    assert float(engine.state.account("ACC1").cash) == 900.0


def test_halt_for_all_accounts_sets_the_firm_state() -> None:
    engine = build_engine()
    engine.commands(command("c1", "HALT", account="*"))

    assert engine.state.config.firm_trading_state() == "HALTED"


def test_invalid_command_is_dead_lettered_and_changes_nothing() -> None:
    engine = build_engine()
    engine.commands(command("c1", "SET_LIMITS", max_order_qty=-5))

    (letter,) = engine.dead_letters()
    assert letter["reason"] == "invalid_command"
    assert "max_order_qty" in letter["error"]
    assert engine.state.config.overrides("ACC1") == {}


def test_live_rule_reaches_the_rule_set() -> None:
    engine = build_engine()
    engine.commands(
        command(
            "c1",
            "ADD_RULE",
            rule_id="big",
            metric="gross_exposure",
            comparison=">",
            threshold=10.0,
            severity="WARNING",
        )
    )

    assert "big" in engine.state.config.rules.all()
