"""The live orders' deadline index: earliest deadline and due orders without a scan."""

from __future__ import annotations

from redfire.state.deadlines import NEVER, DueIndex


def test_earliest_moves_on_when_its_orders_leave() -> None:
    index = DueIndex()
    index.add(30, "c")
    index.add(10, "a")
    index.add(10, "b")
    index.add(20, "d")

    index.remove(10, "a")
    assert index.earliest() == 10  # "b" still holds it
    index.remove(10, "b")
    assert index.earliest() == 20
    index.remove(20, "d")
    index.remove(30, "c")
    assert index.earliest() == NEVER


def test_due_orders_come_by_deadline_then_id() -> None:
    index = DueIndex()
    for deadline, order_id in [(20, "b"), (10, "z"), (20, "a"), (40, "late")]:
        index.add(deadline, order_id)

    assert index.due(9) == []
    assert index.due(20) == ["z", "a", "b"]


def test_a_deadline_held_again_after_it_emptied_is_found() -> None:
    index = DueIndex()
    index.add(10, "a")
    index.remove(10, "a")
    index.add(10, "b")
    index.add(5, "c")
    index.remove(5, "c")

    assert index.earliest() == 10
    assert index.due(10) == ["b"]


def test_orders_that_never_expire_are_not_held() -> None:
    index = DueIndex()
    index.add(NEVER, "gtc")

    assert index.earliest() == NEVER
    assert index.due(NEVER) == []


def test_removing_an_order_not_held_changes_nothing() -> None:
    index = DueIndex()
    index.add(10, "a")
    index.remove(10, "other")
    index.remove(99, "a")

    assert index.due(10) == ["a"]
