"""Keep a standby replica's changelog records when faust resumes flow after a recovery.

faust 0.15.3 (``tables/recovery.py``) starts reading the standby partitions, and
then, in ``on_recovery_completed``, resumes flow once more. Resuming empties every
queue registered with ``app.flow_control``, the table changelog queue among them,
so the standby records fetched in between are dropped. The standby's fetch
position is already past them, and its later records move its persisted offset
on. Its copy then lacks those records for good. When it takes a partition over,
its recovery starts from that persisted offset and the worker serves rows without
them. The scale-out test found this: the first fill of several positions was
missing after 1 → 2 → 3 workers, with cash right.

Here the changelog queue keeps those records when it is emptied after a recovery.
They are kept only for partitions that are still standbys, and only past the last
offset the standby has taken. Every other clear (a revocation, the resumes during
recovery) still empties the queue, as faust does.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import AppT

log = logging.getLogger(__name__)


def keep_standby_records_on_resume(app: AppT) -> None:
    """Make the table changelog queue keep standby records when flow resumes."""
    queue: Any = app.tables.changelog_queue  # type: ignore[attr-defined]
    empty = queue.clear

    def clear() -> None:
        kept = _standby_records_to_keep(app, list(queue._queue))
        empty()
        if kept:
            log.info("kept %d standby changelog records that resuming flow drops", len(kept))
            queue._queue.extend(kept)

    queue.clear = clear


def _standby_records_to_keep(app: AppT, events: list[Any]) -> list[Any]:
    """Return the queued standby records a resume after recovery must not drop."""
    if not events or not app.flow_control.is_active():
        return []  # a revocation empties the queue: the next recovery seeks afresh
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    if recovery.in_recovery:
        return []  # faust seeks the partitions it recovers next, as it always did
    standbys = recovery.standby_tps
    taken = recovery.standby_offsets
    kept = []
    for event in events:
        message = event.message
        tp = message.tp
        if tp in standbys and tp in taken and message.offset > taken[tp]:
            kept.append(event)
    return kept
