"""Waiting for a worker by polling its routes: what counts as ready, and giving up."""

from __future__ import annotations

import time

import pytest

from redfire.cli.readiness import NotReady, Progress, WorkerHttp, funded, priced, wait_until


class FakeWorker(WorkerHttp):
    """A worker whose routes answer from dicts (None: the route does not answer yet)."""

    def __init__(self, bodies: dict[str, object]) -> None:
        super().__init__("http://unused")
        object.__setattr__(self, "bodies", bodies)

    def get(self, path: str) -> object:
        return self.bodies.get(path)  # type: ignore[attr-defined]


def test_funded_waits_for_every_account_cash() -> None:
    worker = FakeWorker({"/accounts/A/positions": {"cash": 5.0}, "/accounts/B/positions": None})
    assert funded(worker, {"A": 5.0, "B": 5.0}).missing == ("cash of B",)
    assert funded(worker, {"A": 5.0}).ready


def test_priced_needs_a_fresh_price_and_enough_returns() -> None:
    worker = FakeWorker(
        {
            "/market/OLD": {"price": {"price": 1.0, "ts": 10}, "window": {"returns": [0.1] * 5}},
            "/market/NEW": {"price": {"price": 1.0, "ts": 99}, "window": {"returns": [0.1] * 2}},
        }
    )
    assert priced(worker, ["OLD", "NEW", "NONE"], 50).missing == (
        "fresh price of OLD",
        "fresh price of NONE",
    )
    assert priced(worker, ["NEW"], 50, min_returns=3).missing == ("3 returns of NEW (has 2)",)
    assert priced(worker, ["OLD"], 0, min_returns=5).ready


def test_wait_until_returns_when_ready_and_gives_up_at_the_deadline() -> None:
    answers = iter([Progress(("x",)), Progress(("x",)), Progress(())])
    wait_until(lambda: next(answers), deadline=time.monotonic() + 5, interval_s=0)
    with pytest.raises(NotReady, match="still waiting for x"):
        wait_until(lambda: Progress(("x",)), deadline=time.monotonic(), interval_s=0)
    with pytest.raises(NotReady, match="stopped while waiting"):
        wait_until(lambda: Progress(("x",)), time.monotonic() + 5, lambda: False, interval_s=0)
