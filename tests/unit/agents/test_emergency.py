"""The emergency stop in-process: FLATTEN as a command (one account or '*') and a rule action."""

from __future__ import annotations

from typing import Any

import pytest

from redfire.agents.commands import partition_key
from redfire.streams.partitioning import partition_for
from tests.support.engine import Engine, build_engine
from tests.support.trading import (
    command,
    deliver,
    fill,
    history,
    order,
    send_commands,
    sent_on,
    set_cash,
)

PRICES = {"AAPL": 190.0, "MSFT": 410.0, "TSLA": 250.0}


@pytest.fixture
def engine() -> Engine:
    engine = build_engine()
    history(engine, PRICES)
    return engine


def book_for(engine: Engine, account: str) -> None:
    """Give ``account`` a long, a short, a flat position and two live orders."""
    set_cash(engine, account, 1_000_000.0)
    fill(engine, f"{account}-f1", account, "AAPL", "BUY", 120, 190.0)
    fill(engine, f"{account}-f2", account, "MSFT", "SELL", 35.5, 410.0)
    fill(engine, f"{account}-f3", account, "TSLA", "BUY", 10, 250.0)
    fill(engine, f"{account}-f4", account, "TSLA", "SELL", 10, 251.0)
    order(engine, f"{account}-o1", account, "AAPL", "BUY", 5, 190.0)
    order(engine, f"{account}-o2", account, "MSFT", "BUY", 3, 410.0)
    live = engine.state.account(account).live
    assert sorted(live) == [f"{account}-o1", f"{account}-o2"], engine.decisions()


def emergency_orders(engine: Engine) -> list[dict[str, Any]]:
    return engine.producer.on(engine.settings.topic("emergency_orders"))


def events(engine: Engine) -> list[dict[str, Any]]:
    alerts = engine.producer.on(engine.names.risk_alerts)
    return [a for a in alerts if a["rule_id"] == "emergency_stop"]


def test_flatten_halts_cancels_and_closes_every_position_once(engine: Engine) -> None:
    book_for(engine, "ACC1")
    flatten = command("stop-1", "FLATTEN", "ACC1", reason="desk limit breach")
    send_commands(engine, flatten)

    account = engine.state.account("ACC1")
    assert account.trading_state == "HALTED"
    cancels = [o for o in engine.producer.on(engine.names.orders) if o["action"] == "CANCEL"]
    assert sorted(c["order_id"] for c in cancels) == ["ACC1-o1", "ACC1-o2"]
    closing = emergency_orders(engine)
    assert [(o["symbol"], o["side"], o["qty"]) for o in closing] == [
        ("AAPL", "SELL", 120.0),
        ("MSFT", "BUY", 35.5),
    ]
    assert all(o["order_type"] == "MARKET" and o["price"] is None for o in closing)
    assert all(o["account"] == "ACC1" and o["action"] == "NEW" for o in closing)
    keyed = sent_on(engine, engine.settings.topic("emergency_orders"))
    assert {(p, k) for p, k, _ in keyed} == {(account.partition, "ACC1")}
    (event,) = events(engine)
    assert (event["severity"], event["state"], event["account"]) == ("CRITICAL", "FIRING", "ACC1")
    assert event["trigger"] == "FLATTEN stop-1: desk limit breach"
    assert event["order_ids"] == [o["order_id"] for o in closing]
    assert event["cancelled_order_ids"] == ["ACC1-o1", "ACC1-o2"]
    assert event["actions"] == ["stopped_new_orders", "cancelled_2_orders", "closing_2_positions"]
    assert account.recent_alerts[-1].rule_id == "emergency_stop"

    sent_before = len(engine.producer.sent)
    send_commands(engine, flatten)

    assert len(engine.producer.sent) == sent_before, "the same command changed something"


def test_closing_order_ids_derive_from_the_command_id(engine: Engine) -> None:
    book_for(engine, "ACC1")
    send_commands(engine, command("stop-9", "FLATTEN", "ACC1"))

    ids = [o["order_id"] for o in emergency_orders(engine)]
    assert ids == ["flatten-stop-9-ACC1-AAPL", "flatten-stop-9-ACC1-MSFT"]


def test_flatten_all_reaches_every_partition_and_each_applies_it_once(engine: Engine) -> None:
    accounts = ["ACC1", "ACC2", "ACC3", "ACC4", "ACC5", "ACC6"]
    partitions = {engine.state.partition_of(a) for a in accounts}
    assert len(partitions) >= 2, "the accounts should spread over partitions"
    for name in accounts:
        book_for(engine, name)
    send_commands(engine, command("stop-all", "FLATTEN", "*"))

    copies = sent_on(engine, engine.names.risk_commands)
    origin = engine.state.partition_of("*")
    others = sorted(set(range(engine.settings.partitions)) - {origin})
    assert sorted(p for p, _, _ in copies) == others
    for partition, key, value in copies:
        assert key == partition_key(partition or 0, engine.settings.partitions)
        assert partition_for(key or "", engine.settings.partitions) == partition
        assert (value["command_id"], value["payload"]["partition"]) == ("stop-all", partition)
    assert engine.state.config.firm_trading_state() == "HALTED"

    delivered = deliver(engine, engine.names.risk_commands)
    deliver(engine, engine.names.risk_commands)  # redelivered: applied once per partition

    assert delivered == len(others)
    closing = emergency_orders(engine)
    assert sorted((o["account"], o["symbol"]) for o in closing) == sorted(
        (a, s) for a in accounts for s in ("AAPL", "MSFT")
    )
    assert {e["account"] for e in events(engine)} == set(accounts)
    assert len(events(engine)) == len(accounts)
    assert all(engine.state.account(a).trading_state == "HALTED" for a in accounts)
    assert engine.dead_letters() == []


def test_copy_on_the_wrong_partition_is_forwarded_to_its_own(engine: Engine) -> None:
    partitions = engine.settings.partitions
    target = (engine.state.partition_of("*") + 1) % partitions
    copy = {**command("stop-x", "FLATTEN", "*", partition=target), "ts": engine.now_ms}
    elsewhere = partition_key((target + 1) % partitions, partitions)
    engine.run(
        engine.desks.commands.handle([engine.envelope(engine.names.risk_commands, elsewhere, copy)])
    )

    (forwarded,) = sent_on(engine, engine.names.risk_commands)
    assert forwarded[:2] == (target, partition_key(target, partitions))
    assert emergency_orders(engine) == [] and engine.dead_letters() == []


@pytest.mark.parametrize("partition", [99, -1, "1", True])
def test_copy_for_no_partition_is_refused(engine: Engine, partition: Any) -> None:
    send_commands(engine, command("stop-y", "FLATTEN", "*", partition=partition))

    (letter,) = engine.dead_letters()
    assert letter["reason"] == "invalid_command"
    assert "copy" in letter["error"]
    assert sent_on(engine, engine.names.risk_commands) == []
    assert engine.state.config.firm_trading_state() == "ACTIVE"


def test_flatten_with_a_bad_reason_is_refused_and_changes_nothing(engine: Engine) -> None:
    book_for(engine, "ACC1")
    send_commands(engine, command("stop-2", "FLATTEN", "ACC1", reason=["not", "text"]))

    (letter,) = engine.dead_letters()
    assert "reason" in letter["error"]
    assert engine.state.account("ACC1").trading_state == "ACTIVE"
    assert emergency_orders(engine) == [] and events(engine) == []


def test_flatten_rule_action_runs_the_whole_emergency_stop(engine: Engine) -> None:
    rule = {
        "rule_id": "gross-flatten",
        "metric": "gross_exposure",
        "comparison": ">",
        "threshold": 30_000.0,
        "severity": "CRITICAL",
        "action": "flatten",
    }
    send_commands(engine, command("r1", "ADD_RULE", "*", **rule))
    book_for(engine, "ACC1")  # 22,800 long AAPL + 14,555 short MSFT = 37,355 gross
    engine.monitor()

    account = engine.state.account("ACC1")
    assert account.trading_state == "HALTED"
    closing = emergency_orders(engine)
    assert [(o["symbol"], o["side"], o["qty"]) for o in closing] == [
        ("AAPL", "SELL", 120.0),
        ("MSFT", "BUY", 35.5),
    ]
    (event,) = events(engine)
    assert event["trigger"] == "rule gross-flatten: gross_exposure > 30000"
    assert all(
        o["order_id"].startswith(f"flatten-rule-gross-flatten-{engine.now_ms}-") for o in closing
    )
    assert [a.rule_id for a in account.recent_alerts][-2:] == ["gross-flatten", "emergency_stop"]
    cancels = [o["order_id"] for o in engine.producer.on(engine.names.orders)]
    assert cancels == ["ACC1-o1", "ACC1-o2"]
