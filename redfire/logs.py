"""Warnings about single records, at most one per interval.

Some warnings are about one record each: a fill for an order RedFire never saw (a
gateway's own order), a cancel of an order that is already done. A feed can send
thousands of those a minute; a log line for each flooded the log and cost the pipeline
worker 1.7% of its CPU (faust's colour formatter, about 4,000 lines a pass). Every such
record is still counted by its Prometheus counter; the log shows the first one of each
interval, and how many like it were held back before it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

INTERVAL_S = 10.0


class ThrottledWarning:
    """One kind of per-record warning, logged at most once every ``interval_s``."""

    def __init__(self, logger: logging.Logger, interval_s: float = INTERVAL_S) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.next_at = 0.0
        self.held = 0

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.held += 1
            return
        if self.held:
            message += " (%d more like it held back since the last)"
            args = (*args, self.held)
        self.logger.warning(message, *args)
        self.next_at = now + self.interval_s
        self.held = 0
