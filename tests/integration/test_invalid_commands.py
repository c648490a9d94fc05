"""Issue 9 on a real Kafka: a command that cannot work is refused loudly and changes nothing.

For each refused kind (ADD_RULE, SET_LIMITS, ADD_SCENARIO, SET_CASH) the test checks the
``dead_letters`` record (reason ``invalid_command``, an error naming the field, the bad value
and the valid choices) and then that the bad rule, limit, scenario or cash is not in force:
a following event behaves exactly as before. Black-box: records in, records and HTTP out,
so the tests hold whichever engine runs behind the topics.

One worker serves the module (each test uses its own accounts and ids); it loads no rules
and no scenarios of its own, so every alert and stress result is one a test caused.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.desk import Desk, http_json, monitor_env, now_ms, wait_price, wait_record
from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord, TopicReader, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

PRICE = 100.0


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedFireWorker]:
    token = uuid.uuid4().hex[:8]
    namespace = KafkaNamespace(token, f"redfire-t{token}", f"t{token}-")
    tmp_path = tmp_path_factory.mktemp("invalid-commands")
    started = RedFireWorker(
        bootstrap=kafka_bootstrap,
        app_id=namespace.app_id,
        topic_prefix=namespace.topic_prefix,
        datadir=tmp_path / "data",
        extra_env=monitor_env(tmp_path, []),
    )
    started.create_topics()
    started.start()
    yield started
    started.stop()


@pytest.fixture
def desk(worker: RedFireWorker) -> Iterator[Desk]:
    opened = Desk(worker)
    yield opened
    opened.close()


def send_command(desk: Desk, command: str, account: str | None, payload: Any) -> str:
    """Send one command (NaN and infinity as JSON's NaN/Infinity tokens); return its id."""
    command_id = desk.next_id(f"cmd-{command.lower()}")
    record = {
        "command_id": command_id,
        "command": command,
        "account": account,
        "payload": payload,
        "ts": now_ms(),
    }
    raw = json.dumps(record).encode()  # json writes float('nan') as NaN, as kcat users would
    send_json(desk.producer, desk.worker.topic("risk_commands"), account or "*", raw)
    desk.producer.flush(30)
    return command_id


def dead_letter_of(letters: TopicReader, command_id: str) -> JsonRecord:
    """Wait for the dead letter carrying the command ``command_id``."""

    def carries(letter: JsonRecord) -> bool:
        return f'"{command_id}"'.encode() in base64.b64decode(letter["payload"])

    return wait_record(letters, carries)


def assert_refused(letter: JsonRecord, *fragments: str) -> None:
    assert letter["reason"] == "invalid_command", letter
    for fragment in fragments:
        assert fragment in letter["error"], letter["error"]


def set_cash(desk: Desk, account: str, cash: float) -> None:
    send_command(desk, "SET_CASH", account, {"cash": cash})
    eventually(
        lambda: http_json(desk.worker, f"/accounts/{account}/positions")["cash"] == cash,
        timeout=60,
        retry_on=(AssertionError, OSError),
    )


def decide(desk: Desk, decisions: TopicReader, account: str, qty: float) -> JsonRecord:
    order_id = desk.next_id("order")
    desk.order(order_id, account, "AAPL", qty, PRICE)
    return wait_record(decisions, lambda d: d["order_id"] == order_id)


def fresh_price(desk: Desk) -> None:
    desk.tick("AAPL", PRICE)
    wait_price(desk.worker, "AAPL", PRICE)


def test_add_rule_with_unknown_metric_or_enum_is_refused_and_never_in_force(desk: Desk) -> None:
    account = "RULES-1"
    letters = desk.reader("dead_letters")
    alerts = desk.reader("risk_alerts")
    bad = {
        "rule_id": "gross_typo",
        "metric": "gross_exposre",
        "comparison": ">",
        "threshold": 0,
        "scope": "account",
        "account": account,
        "cooldown_ms": 0,
    }
    typo = send_command(desk, "ADD_RULE", None, bad)
    bad_enum = send_command(
        desk,
        "ADD_RULE",
        None,
        {**bad, "rule_id": "gross_enum", "metric": "gross_exposure", "comparison": "=>"},
    )
    not_finite = send_command(
        desk,
        "ADD_RULE",
        None,
        {**bad, "rule_id": "gross_nan", "metric": "gross_exposure", "threshold": float("nan")},
    )
    assert_refused(
        dead_letter_of(letters, typo),
        "metric='gross_exposre'",
        "did you mean 'gross_exposure'",
        "open_positions, live_orders",
    )
    assert_refused(dead_letter_of(letters, bad_enum), "comparison='=>'", ">=")
    assert_refused(dead_letter_of(letters, not_finite), "threshold=nan", "finite")

    # A correct rule on the same condition, sent after them on the same key, is in force...
    send_command(desk, "ADD_RULE", None, {**bad, "rule_id": "gross_ok", "metric": "gross_exposure"})
    eventually(
        lambda: "gross_ok" in {r["rule_id"] for r in http_json(desk.worker, "/rules")["rules"]},
        timeout=60,
        retry_on=(AssertionError, OSError),
    )
    listed = {r["rule_id"] for r in http_json(desk.worker, "/rules")["rules"]}
    assert not listed & {"gross_typo", "gross_enum", "gross_nan"}
    # ...and when the condition holds only it fires, in the pass that would have fired them all.
    fresh_price(desk)
    desk.fill(account, "AAPL", "BUY", 10, PRICE)
    fired = wait_record(alerts, lambda a: a["account"] == account and a["state"] == "FIRING")
    assert fired["rule_id"] == "gross_ok"
    assert {a["rule_id"] for a in alerts.json_values() if a["account"] == account} == {"gross_ok"}
    # GET /rules shows the last state, answered by the account's owner.
    eventually(
        lambda: (
            next(
                r
                for r in http_json(desk.worker, f"/rules?account={account}")["rules"]
                if r["rule_id"] == "gross_ok"
            )["firing"]
            == [account]
        ),
        timeout=30,
        retry_on=(AssertionError, OSError),
    )
    assert "largest_position_weight" in {
        m["metric"] for m in http_json(desk.worker, "/rules")["metrics"]
    }


def test_set_limits_with_unknown_or_invalid_limit_changes_no_limit(desk: Desk) -> None:
    account = "LIMITS-1"
    letters = desk.reader("dead_letters")
    decisions = desk.reader("order_decisions")
    set_cash(desk, account, 10_000_000)
    fresh_price(desk)
    assert decide(desk, decisions, account, 100)["decision"] == "APPROVED"

    # max_order_qty=10 would reject the next order if any part of these were applied.
    unknown = send_command(desk, "SET_LIMITS", account, {"max_order_qty": 10, "max_orders": 5})
    negative = send_command(desk, "SET_LIMITS", account, {"max_order_qty": -10})
    not_finite = send_command(
        desk, "SET_LIMITS", "*", {"max_order_qty": 10, "max_order_notional": float("inf")}
    )
    assert_refused(
        dead_letter_of(letters, unknown),
        "limit='max_orders'",
        "did you mean",
        "max_orders_per_window",
    )
    assert_refused(dead_letter_of(letters, negative), "max_order_qty=-10", ">= 0")
    assert_refused(dead_letter_of(letters, not_finite), "max_order_notional=inf", "finite")

    decision = decide(desk, decisions, account, 100)
    assert decision["decision"] == "APPROVED", decision
    assert not [r for r in decision["reasons"] if r["check"] == "max_order_qty"]


def test_add_scenario_with_invalid_shock_is_refused_and_cannot_run(desk: Desk) -> None:
    account = "STRESS-1"
    letters = desk.reader("dead_letters")
    bad = send_command(
        desk, "ADD_SCENARIO", None, {"scenario_id": "too_deep", "shocks": {"AAPL": -1.5}}
    )
    misspelt = send_command(
        desk, "ADD_SCENARIO", None, {"scenario_id": "misspelt", "shock": {"AAPL": -0.1}}
    )
    assert_refused(dead_letter_of(letters, bad), "shocks[AAPL]=-1.5", "below -1")
    assert_refused(dead_letter_of(letters, misspelt), "field='shock'", "did you mean 'shocks'")

    run = send_command(desk, "RUN_STRESS", account, {"scenario_id": "too_deep"})
    assert_refused(dead_letter_of(letters, run), "unknown scenario 'too_deep'")
    with pytest.raises(urllib.error.HTTPError) as missing:
        desk.worker.get(f"/stress/too_deep?account={account}")
    assert missing.value.code == 404


def test_set_cash_with_non_finite_or_non_numeric_cash_keeps_the_balance(desk: Desk) -> None:
    account = "CASH-1"
    letters = desk.reader("dead_letters")
    decisions = desk.reader("order_decisions")
    set_cash(desk, account, 1_000_000)
    refused = {
        send_command(desk, "SET_CASH", account, {"cash": float("nan")}): "cash=nan",
        send_command(desk, "SET_CASH", account, {"cash": float("-inf")}): "cash=-inf",
        send_command(desk, "SET_CASH", account, {"cash": True}): "cash=True",
        send_command(desk, "SET_CASH", account, {"amount": 5}): "field='amount'",
        send_command(desk, "SET_CASH", "*", {"cash": 5}): "account='*'",
    }
    for command_id, fragment in refused.items():
        assert_refused(dead_letter_of(letters, command_id), fragment)

    assert http_json(desk.worker, f"/accounts/{account}/positions")["cash"] == 1_000_000
    fresh_price(desk)
    decision = decide(desk, decisions, account, 5_000)  # 500k: fits 1M of buying power
    assert decision["decision"] == "APPROVED", decision
    assert not [r for r in decision["reasons"] if r["check"] == "buying_power"]
