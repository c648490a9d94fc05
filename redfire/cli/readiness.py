"""Wait until a worker has applied what a feed sent, by polling the worker's own HTTP routes.

Commands, ticks and orders travel on different topics, so a feed that sends an account's
cash and then an order cannot know which the worker reads first. Instead of sleeping a guessed
amount, ``wait_until`` polls public routes until the worker shows the state the feed needs:

* ``GET /accounts/{a}/positions``: the account's ``cash``;
* ``GET /market/{symbol}``: the last price (``price.ts``) and the return window
  (``window.returns``).

A route that does not answer yet (the worker is starting, or the account lives on a worker
still recovering) counts as "not yet", never as an error.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

POLL_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True)
class WorkerHttp:
    """A worker's HTTP routes, read as JSON; anything that does not answer 200 is None."""

    base_url: str
    timeout_s: float = 2.0

    def get(self, path: str) -> Any:
        """Return the route's JSON body, or None when it does not answer 200 (yet)."""
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=self.timeout_s) as reply:
                return json.loads(reply.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def cash(self, account: str) -> float | None:
        """Return the account's cash as the worker holds it."""
        body = self.get(f"/accounts/{account}/positions")
        return None if not isinstance(body, dict) else _number(body.get("cash"))

    def market(self, symbol: str) -> tuple[int | None, int]:
        """Return the symbol's last price time (epoch ms) and how many returns its window has."""
        body = self.get(f"/market/{symbol}")
        if not isinstance(body, dict):
            return None, 0
        price = body.get("price") or {}
        window = body.get("window") or {}
        ts = price.get("ts") if isinstance(price, dict) else None
        returns = window.get("returns") if isinstance(window, dict) else None
        return (int(ts) if isinstance(ts, int | float) else None), len(returns or [])


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Progress:
    """What is still missing; empty when the worker is ready."""

    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing


def funded(http: WorkerHttp, cash: Mapping[str, float]) -> Progress:
    """Report the accounts whose cash the worker does not show yet."""
    return Progress(tuple(f"cash of {a}" for a, amount in cash.items() if http.cash(a) != amount))


def priced(
    http: WorkerHttp, symbols: Iterable[str], fresh_from_ts: int, min_returns: int = 0
) -> Progress:
    """Report the symbols without a price at or after ``fresh_from_ts`` or enough returns."""
    missing = []
    for symbol in symbols:
        ts, returns = http.market(symbol)
        if ts is None or ts < fresh_from_ts:
            missing.append(f"fresh price of {symbol}")
        elif returns < min_returns:
            missing.append(f"{min_returns} returns of {symbol} (has {returns})")
    return Progress(tuple(missing))


class NotReady(TimeoutError):
    """The worker did not show the expected state in time (or stopped)."""


def wait_until(
    check: Callable[[], Progress],
    deadline: float,
    keep_going: Callable[[], bool] = lambda: True,
    interval_s: float = POLL_INTERVAL_S,
) -> None:
    """Poll ``check`` until it reports ready; raise NotReady at ``deadline`` (monotonic)."""
    while True:
        progress = check()
        if progress.ready:
            return
        if not keep_going():
            raise NotReady(f"stopped while waiting for {', '.join(progress.missing)}")
        if time.monotonic() >= deadline:
            raise NotReady(f"still waiting for {', '.join(progress.missing)}")
        time.sleep(interval_s)
