"""The additive record fields of issue 13 travel as JSON and as Avro, with defaults."""

from __future__ import annotations

import json

from redfire.feed import decode_output
from redfire.schemas.codec import COMMAND, DecodeFailure, decode, encode_avro, encode_json
from redfire.schemas.records import RiskAlert, RiskCommand, RiskSnapshot, SnapshotComponent

EVENT = RiskAlert(
    "emergency-c1-ACC1",
    "emergency_stop",
    "ACC1",
    "positions_to_close",
    2.0,
    0.0,
    ">=",
    "CRITICAL",
    "FIRING",
    "emergency stop",
    5,
    trigger="FLATTEN c1",
    actions=("stopped_new_orders", "cancelled_1_orders", "closing_2_positions"),
    order_ids=("flatten-c1-ACC1-A", "flatten-c1-ACC1-B"),
    cancelled_order_ids=("o1",),
)
SNAPSHOT = RiskSnapshot(
    "ACC1",
    5,
    1.0,
    1.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    "historical",
    0.0,
    "HALTED",
    var_99=3.0,
    components=(SnapshotComponent("A", 2.0), SnapshotComponent("B", 1.0)),
)


def test_emergency_event_and_components_round_trip_through_avro() -> None:
    event = decode_output(encode_avro(EVENT, "risk_alert"), "risk_alert")
    snapshot = decode_output(encode_avro(SNAPSHOT, "risk_snapshot"), "risk_snapshot")

    assert event["order_ids"] == ["flatten-c1-ACC1-A", "flatten-c1-ACC1-B"]
    assert event["cancelled_order_ids"] == ["o1"] and event["trigger"] == "FLATTEN c1"
    assert snapshot["components"] == [
        {"symbol": "A", "component_var": 2.0},
        {"symbol": "B", "component_var": 1.0},
    ]
    assert json.loads(encode_json(EVENT))["actions"][0] == "stopped_new_orders"


def test_a_rule_alert_has_empty_emergency_fields() -> None:
    alert = RiskAlert("a", "r", "ACC1", "m", 1.0, 0.0, ">", "INFO", "RESOLVED", "x", 1)

    body = decode_output(encode_avro(alert, "risk_alert"), "risk_alert")

    assert (body["trigger"], body["actions"], body["order_ids"]) == (None, [], [])


def test_flatten_is_a_command() -> None:
    raw = encode_json(RiskCommand("c1", "FLATTEN", 5, "*", {"reason": "test"}))
    decoded = decode(raw, COMMAND)
    assert not isinstance(decoded, DecodeFailure)
    assert decoded.command == "FLATTEN"
    avro = encode_avro(decoded, "risk_command")
    assert decode(avro, COMMAND) == decoded
