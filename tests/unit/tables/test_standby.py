"""A resume after recovery keeps the standby records faust's queue clear would drop."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from redfire.tables.standby import _standby_records_to_keep

STANDBY = TP("positions-changelog", 2)
ACTIVE = TP("positions-changelog", 0)


def app(*, active_flow: bool = True, in_recovery: bool = False) -> Any:
    recovery = SimpleNamespace(
        in_recovery=in_recovery,
        standby_tps={STANDBY},
        standby_offsets=Counter({STANDBY: 3}),
    )
    return SimpleNamespace(
        flow_control=SimpleNamespace(is_active=lambda: active_flow),
        tables=SimpleNamespace(recovery=recovery),
    )


def event(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def offsets(events: list[Any]) -> list[tuple[int, int]]:
    return [(e.message.tp.partition, e.message.offset) for e in events]


def test_standby_records_past_what_the_standby_took_are_kept_in_order() -> None:
    queued = [event(STANDBY, n) for n in (2, 3, 4, 5)] + [event(ACTIVE, 9)]
    assert offsets(_standby_records_to_keep(app(), queued)) == [(2, 4), (2, 5)]


def test_a_revocation_empties_the_queue_as_faust_does() -> None:
    queued = [event(STANDBY, 4)]
    assert _standby_records_to_keep(app(active_flow=False), queued) == []


def test_the_resumes_during_recovery_empty_the_queue_as_faust_does() -> None:
    queued = [event(STANDBY, 4)]
    assert _standby_records_to_keep(app(in_recovery=True), queued) == []


def test_partitions_that_are_no_longer_standbys_are_not_kept() -> None:
    queued = [event(TP("positions-changelog", 1), 7)]
    assert _standby_records_to_keep(app(), queued) == []
