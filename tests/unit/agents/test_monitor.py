"""The monitor in-process: snapshots of changed accounts, rules, the emergency stop."""

from __future__ import annotations

from typing import Any

from redfire.agents.monitor import STEPS, step_of
from tests.support.engine import build_engine

T0 = 1_700_000_000_000


def test_changed_account_gets_one_snapshot_per_pass() -> None:
    engine = build_engine()
    engine.commands(
        {
            "command_id": "c1",
            "command": "SET_CASH",
            "account": "ACC1",
            "payload": {"cash": 1000},
            "ts": T0,
        }
    )
    engine.monitor()
    engine.monitor()

    snapshots = engine.producer.on(engine.names.risk_metrics)
    assert [s["account"] for s in snapshots] == ["ACC1"]
    assert snapshots[0]["cash"] == 1000.0


def test_halt_rule_halts_the_account_and_cancels_its_live_orders() -> None:
    engine = build_engine()
    rule: dict[str, Any] = {
        "rule_id": "halt-big",
        "metric": "gross_exposure",
        "comparison": ">",
        "threshold": 500.0,
        "severity": "CRITICAL",
        "action": "halt",
    }
    engine.commands(
        {"command_id": "c0", "command": "ADD_RULE", "account": "*", "payload": rule, "ts": T0},
        {
            "command_id": "c1",
            "command": "SET_CASH",
            "account": "ACC1",
            "payload": {"cash": 1e6},
            "ts": T0,
        },
    )
    engine.ticks({"symbol": "AAPL", "price": 100.0, "ts": T0})
    engine.orders(
        {
            "order_id": "o1",
            "account": "ACC1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 10,
            "price": 100.0,
            "ts": T0,
        }
    )
    engine.fills(
        {
            "fill_id": "f1",
            "order_id": "o0",
            "account": "ACC1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 10,
            "price": 100.0,
            "ts": T0,
        }
    )
    engine.monitor()

    alerts = engine.producer.on(engine.names.risk_alerts)
    assert ("halt-big", "FIRING") in [(a["rule_id"], a["state"]) for a in alerts]
    assert engine.state.account("ACC1").trading_state == "HALTED"
    cancels = engine.producer.on(engine.names.orders)
    assert [(c["order_id"], c["action"]) for c in cancels] == [("o1", "CANCEL")]


def test_snapshots_carry_the_live_var_and_es_backtest() -> None:
    engine = build_engine()
    day = 24 * 3600 * 1000
    engine.commands(
        {"command_id": "c1", "command": "SET_CASH", "account": "ACC1", "payload": {"cash": 1e6},
         "ts": T0}
    )  # fmt: skip
    price = 100.0
    for d in range(30):
        price *= 1.01 if d % 3 else 0.97
        engine.ticks({"symbol": "AAPL", "price": round(price, 2), "ts": T0 + d * day})
        if d == 0:
            engine.fills(
                {"fill_id": "f1", "order_id": "o", "account": "ACC1", "symbol": "AAPL",
                 "side": "BUY", "qty": 100, "price": 100.0, "ts": T0}
            )  # fmt: skip
        engine.now_ms = T0 + d * day + 1
        engine.state.account("ACC1").touch()
        engine.monitor()

    last = engine.producer.on(engine.names.risk_metrics)[-1]
    assert last["var_99"] is not None
    assert last["backtest_bars"] >= 5
    assert last["es_backtest_bars"] >= 5
    assert last["es_backtest_z2"] is not None
    stored = engine.state.tables.var_backtests.get(engine.state.partition_of("ACC1"), "ACC1")
    assert stored is not None and len(stored["scored"]) == last["backtest_bars"]


def test_the_steps_of_a_pass_monitor_each_account_once_and_publish_each_partition_once() -> None:
    engine = build_engine(partitions=8)
    names = [f"ACC{i}" for i in range(40)]
    for i, name in enumerate(names):
        cash = {"cash": 1000 + i}
        command = {"command_id": f"c{i}", "command": "SET_CASH", "account": name, "payload": cash}
        engine.commands({**command, "ts": T0})
    monitored: list[str] = []
    for step in range(STEPS):
        before = len(engine.producer.on(engine.names.risk_metrics))
        firm_before = len(engine.producer.on(engine.names.firm_exposures))
        engine.run(engine.desks.monitor.run_step(step))
        accounts = [s["account"] for s in engine.producer.on(engine.names.risk_metrics)[before:]]
        assert all(step_of(name) == step for name in accounts)
        monitored += accounts
        published = engine.producer.on(engine.names.firm_exposures)[firm_before:]
        snapshot = {engine.state.partition_of(name) for name in accounts}
        assert all(
            part["partition"] in snapshot or part["partition"] % STEPS == step for part in published
        )
    assert sorted(monitored) == sorted(names)
    assert len({step_of(name) for name in names}) > 1  # the accounts do spread over steps
    # Nothing changed since: a later pass publishes each partition once, at its own step,
    # with every account.
    firm_before = len(engine.producer.on(engine.names.firm_exposures))
    for step in range(STEPS):
        engine.run(engine.desks.monitor.run_step(step))
    firm = engine.producer.on(engine.names.firm_exposures)[firm_before:]
    owned = {engine.state.partition_of(name) for name in names}
    assert sorted(part["partition"] for part in firm) == sorted(owned)
    assert sum(part["accounts"] for part in firm) == len(names)
