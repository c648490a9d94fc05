"""The order desk in-process: decisions, records before decisions, redelivery, lifecycle."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import Message
from prometheus_client import REGISTRY

from redfire.agents.intake import Envelope
from redfire.state.unit import DeliveryFailed
from tests.support.engine import Engine, build_engine

T0 = 1_700_000_000_000


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "order_id": order_id,
        "account": "ACC1",
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 100,
        "price": 100.0,
        "ts": T0 + 1,
    }
    body.update(fields)
    return body


@pytest.fixture
def engine() -> Engine:
    engine = build_engine()
    engine.commands(
        {
            "command_id": "c1",
            "command": "SET_CASH",
            "account": "ACC1",
            "payload": {"cash": 1e6},
            "ts": T0,
        }
    )
    engine.ticks({"symbol": "AAPL", "price": 100.0, "ts": T0})
    return engine


def test_approved_order_opens_and_reserves_buying_power(engine: Engine) -> None:
    engine.orders(order("o1"))

    (decision,) = engine.decisions()
    assert decision["decision"] == "APPROVED", decision["reasons"]
    account = engine.state.account("ACC1")
    assert account.live["o1"].order is not None
    assert account.live["o1"].order.status == "OPEN"
    assert float(account.reserved) == 100 * 100.0


def test_order_record_reaches_the_changelog_before_its_decision(engine: Engine) -> None:
    engine.orders(order("o1"))

    topics = [sent.topic for sent in engine.producer.sent]
    record_at = topics.index("changelog-orders")
    decision_at = topics.index(engine.names.order_decisions)
    assert record_at < decision_at


def order_wait() -> tuple[float, float, float]:
    """(count, sum, count within 1 s) of redfire_order_wait_seconds so far."""
    name = "redfire_order_wait_seconds"
    count = REGISTRY.get_sample_value(f"{name}_count") or 0.0
    total = REGISTRY.get_sample_value(f"{name}_sum") or 0.0
    within = REGISTRY.get_sample_value(f"{name}_bucket", {"le": "1.0"}) or 0.0
    return count, total, within


def test_order_wait_counts_the_time_since_the_record_was_written(engine: Engine) -> None:
    count, total, within = order_wait()
    behind = engine.envelope(engine.names.orders, "ACC1", order("o1"))
    # A producer whose clock runs ahead: counted as no wait, not as a negative one.
    ahead = engine.envelope(engine.names.orders, "ACC1", order("o2", ts=T0 + 2))
    written = time.time()
    envelopes = [
        dataclasses.replace(behind, timestamp=written - 2.0),
        dataclasses.replace(ahead, timestamp=written + 60.0),
    ]
    engine.run(engine.desks.orders.handle(envelopes))

    assert [d["decision"] for d in engine.decisions()] == ["APPROVED", "APPROVED"]
    grown_count, grown_total, grown_within = (
        b - a for a, b in zip((count, total, within), order_wait(), strict=True)
    )
    assert grown_count == 2
    assert grown_within == 1  # the one ahead, at zero
    assert 2.0 <= grown_total <= 2.0 + (time.time() - written)


def test_envelope_carries_the_kafka_record_timestamp() -> None:
    message = Message("orders", 3, 41, 1_700_000_000.25, 0, None, b"ACC1", b"{}", None)

    envelope = Envelope.of(SimpleNamespace(message=message))  # type: ignore[arg-type]

    assert envelope == Envelope("orders", 3, 41, b"ACC1", b"{}", 1_700_000_000.25)


def test_redelivered_order_gets_its_first_decision_again(engine: Engine) -> None:
    engine.orders(order("o1"))
    engine.ticks({"symbol": "AAPL", "price": 150.0, "ts": T0 + 2})  # would now fail the collar
    engine.orders(order("o1"))

    first, again = engine.decisions()
    assert again["decision"] == first["decision"] == "APPROVED"
    assert again["reasons"] == first["reasons"]
    assert float(engine.state.account("ACC1").reserved) == 100 * 100.0


def test_reused_order_id_is_rejected_as_duplicate(engine: Engine) -> None:
    engine.orders(order("o1"))
    engine.orders(order("o1", ts=T0 + 5))

    _first, second = engine.decisions()
    assert second["decision"] == "REJECTED"
    assert "duplicate_order_id" in {r["check"] for r in second["reasons"]}


def test_redelivered_new_after_a_replace_keeps_its_first_decision(engine: Engine) -> None:
    engine.orders(order("o1"))
    engine.orders(order("o1", action="REPLACE", qty=50, ts=T0 + 3))
    engine.orders(order("o1"))

    new, replaced, again = engine.decisions()
    assert replaced["decision"] == "APPROVED"
    assert again == {**new, "ts": again["ts"]}
    assert float(engine.state.account("ACC1").reserved) == 50 * 100.0


def test_cancel_releases_the_reservation(engine: Engine) -> None:
    engine.orders(order("o1"))
    engine.orders(order("o1", action="CANCEL", ts=T0 + 2))

    account = engine.state.account("ACC1")
    assert "o1" not in account.live
    assert float(account.reserved) == 0.0


def test_ioc_order_expires_at_its_deadline(engine: Engine) -> None:
    engine.orders(order("o1", order_type="IOC"))
    later = T0 + 1 + engine.settings.ioc_timeout_ms + 1
    engine.ticks({"symbol": "AAPL", "price": 100.0, "ts": later})
    engine.orders(order("o2", ts=later))

    account = engine.state.account("ACC1")
    assert "o1" not in account.live
    assert float(account.reserved) == 100 * 100.0  # o2 only


def test_ioc_order_expires_after_an_earlier_one_was_filled(engine: Engine) -> None:
    engine.orders(order("o1", order_type="IOC"), order("o2", order_type="IOC", ts=T0 + 5))
    engine.fills(
        {
            "fill_id": "f1",
            "order_id": "o1",
            "account": "ACC1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 100,
            "price": 100.0,
            "ts": T0 + 2,
        }
    )
    account = engine.state.account("ACC1")
    assert list(account.live) == ["o2"]

    before_o2_due = T0 + 5 + engine.settings.ioc_timeout_ms - 1
    engine.orders(order("o3", ts=before_o2_due))
    assert "o2" in account.live
    engine.orders(order("o4", ts=before_o2_due + 2))
    assert set(account.live) == {"o3", "o4"}


def test_undelivered_decision_fails_the_batch(engine: Engine) -> None:
    engine.producer.fail_topics.add(engine.names.order_decisions)

    with pytest.raises(DeliveryFailed):
        engine.orders(order("o1"))


def test_restart_restores_live_orders_and_reservations(engine: Engine) -> None:
    # A SELL above the live BUY does not cross it (self-trade prevention).
    engine.orders(order("o1"), order("o2", side="SELL", qty=10, price=101.0, ts=T0 + 2))
    restarted = build_engine(tables=engine.state.tables)

    account = restarted.state.account("ACC1")
    assert sorted(account.live) == ["o1", "o2"]
    assert float(account.reserved) == 100 * 100.0
