"""Per-record warnings: the first of each interval is logged, with how many were held back."""

from __future__ import annotations

import logging

import pytest

from redfire import logs
from redfire.logs import ThrottledWarning


def test_one_warning_per_interval_says_how_many_were_held_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [100.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    warn = ThrottledWarning(logging.getLogger("redfire.test"), interval_s=10.0)
    with caplog.at_level(logging.WARNING, logger="redfire.test"):
        for n in range(5):  # within one interval
            warn("fill %s for unknown order %s", f"f-{n}", f"o-{n}")
            clock[0] += 1.0
        clock[0] += 10.0
        warn("fill %s for unknown order %s", "f-9", "o-9")
        warn("fill %s for unknown order %s", "f-10", "o-10")
    assert [r.getMessage() for r in caplog.records] == [
        "fill f-0 for unknown order o-0",
        "fill f-9 for unknown order o-9 (4 more like it held back since the last)",
    ]
