"""Issue 13 on a real Kafka and a real browser: the live risk page and its WebSocket.

A worker (JWT roles on) gets 25 daily closes per symbol, cash, a fill, two orders and a
rule that fires. Headless Chromium (Debian's package, driven over DevTools) loads
``/?token=<viewer>``; a plain WebSocket client listens on ``/ws`` beside it. The page must
show the account with its VaR after the fill, the WebSocket must deliver the account's
snapshot with the new position within 10 s of the fill, and the screenshot is written to
``var/test-artifacts/risk-page.png`` (and the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from redfire.web.auth import Role, issue_token
from tests.support.browser import Chromium
from tests.support.desk import monitor_env
from tests.support.kafka_io import producer, send_json
from tests.support.worker import REPO, RedFireWorker

pytestmark = pytest.mark.integration

SECRET = "live-page-test-secret-0123456789abcdef"
DAY_MS = 86_400_000
SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0}
TRADER, HEDGER = "DESK-A", "DESK-B"
ARTIFACTS = REPO / "var" / "test-artifacts"
SNAPSHOT_DEADLINE_S = 10.0
LIMITS = {"default": {"max_price_age_ms": None, "max_var_pct": None, "max_order_qty": 5000}}
RULE = {
    "rule_id": "gross_above_50k",
    "name": "Gross exposure above 50k",
    "metric": "gross_exposure",
    "comparison": ">",
    "threshold": 50_000.0,
    "severity": "WARNING",
    "scope": "account",
    "frequency_ms": 0,
    "cooldown_ms": 60_000,
    "action": "alert",
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def closes(base: float, days: int = 25) -> list[float]:
    """Return a deterministic wiggle of daily closes around ``base``."""
    return [round(base * (1 + 0.012 * ((i * 7) % 5 - 2)), 2) for i in range(days)]


@dataclass
class Feed:
    """What the gateway and the back office send, with the tokens to read back."""

    worker: RedFireWorker
    viewer: str
    ids: int = 0
    kafka: Any = field(init=False)

    def __post_init__(self) -> None:
        self.kafka = producer(self.worker.bootstrap)

    def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        send_json(self.kafka, self.worker.topic(topic), key, value)
        self.kafka.flush(30)

    def next_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}-{self.ids}"

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.worker.web_port}{path}",
            headers={"Authorization": f"Bearer {self.viewer}"} if self.viewer else {},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def wait(self, condition: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (urllib.error.URLError, ConnectionError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not true after {timeout}s")
            time.sleep(0.1)

    def history(self) -> None:
        """Send 25 daily closes and a live price per symbol; wait for the windows."""
        today = now_ms() // DAY_MS * DAY_MS
        for symbol, base in SYMBOLS.items():
            series = closes(base)
            for day, close in enumerate(series):
                ts = today - (len(series) - day) * DAY_MS + 20 * 3_600_000
                send_json(
                    self.kafka,
                    self.worker.topic("ticks"),
                    symbol,
                    {"symbol": symbol, "ts": ts, "price": close},
                )
            self.send("ticks", symbol, {"symbol": symbol, "ts": now_ms(), "price": base})
        for symbol in SYMBOLS:
            self.wait(
                lambda s=symbol: (
                    len((self.get(f"/market/{s}").get("window") or {})["returns"]) == 24
                ),
                f"{symbol} return window",
            )

    def set_cash(self, account: str, cash: float) -> None:
        self.send(
            "risk_commands",
            account,
            {
                "command_id": self.next_id("cash"),
                "command": "SET_CASH",
                "account": account,
                "payload": {"cash": cash},
                "ts": now_ms(),
            },
        )
        self.wait(lambda: self.get(f"/accounts/{account}/risk")["cash"] == cash, "cash")

    def fill(self, account: str, symbol: str, qty: float) -> None:
        fill_id = self.next_id("fill")
        self.send(
            "fills",
            account,
            {
                "fill_id": fill_id,
                "order_id": f"gw-{fill_id}",
                "account": account,
                "symbol": symbol,
                "side": "BUY",
                "qty": qty,
                "price": SYMBOLS[symbol],
                "ts": now_ms(),
            },
        )

    def order(self, order_id: str, account: str, symbol: str, qty: float) -> None:
        self.send(
            "orders",
            account,
            {
                "order_id": order_id,
                "account": account,
                "symbol": symbol,
                "side": "BUY",
                "qty": qty,
                "price": SYMBOLS[symbol],
                "order_type": "LIMIT",
                "ts": now_ms(),
            },
        )


@dataclass
class SocketListener:
    """A WebSocket client on /ws that notes when each message arrived."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def listen(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers=headers) as ws,
        ):
            self.connected.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append((time.monotonic(), json.loads(message.data)))

    def first_snapshot(self, account: str, symbol: str, after: float) -> tuple[float, Any] | None:
        for arrived, message in self.messages:
            data = message["data"]
            held = {p["symbol"]: p["qty"] for p in data.get("positions", ())}
            if (
                arrived >= after
                and message["type"] == "snapshot"
                and data["account"] == account
                and held.get(symbol)
            ):
                return arrived, data
        return None


def row_text(account: str, cell: str) -> str:
    return (
        f"(document.querySelector('tr[data-account=\"{account}\"] td.{cell}') || {{}}).textContent"
    )


async def test_page_shows_the_account_with_its_var_after_a_fill_and_the_socket_pushes_it(
    redfire_worker: Any, tmp_path: Path
) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(LIMITS))
    rule = {**RULE, "account": HEDGER}
    worker: RedFireWorker = redfire_worker(
        **monitor_env(tmp_path, [rule]),
        REDFIRE_LIMITS_FILE=str(limits),
        REDFIRE_JWT_SECRET=SECRET,
    )
    feed = Feed(worker, issue_token(SECRET, Role.VIEWER, 30, "live-test"))
    await asyncio.to_thread(feed.history)
    await asyncio.to_thread(feed.set_cash, TRADER, 1_000_000.0)
    await asyncio.to_thread(feed.set_cash, HEDGER, 500_000.0)

    base = f"127.0.0.1:{worker.web_port}"
    listener = SocketListener()
    listening = asyncio.create_task(listener.listen(f"ws://{base}/ws", feed.viewer))
    async with Chromium.launch(tmp_path) as browser:
        page = await browser.open(f"http://{base}/?token={feed.viewer}")
        await page.wait_for("window.redfire && window.redfire.connected", 30, "page connected")
        assert "token=" not in await page.evaluate("location.href"), "token left in the URL"

        await asyncio.wait_for(listener.connected.wait(), 30)
        await asyncio.to_thread(feed.fill, TRADER, "AAPL", 100)
        filled = time.monotonic()
        await asyncio.to_thread(feed.fill, HEDGER, "MSFT", 150)  # 61.5k gross: the rule fires

        # The WebSocket delivers the trader's snapshot holding AAPL within 10 s of the fill.
        arrived = await wait_until(
            lambda: listener.first_snapshot(TRADER, "AAPL", filled), SNAPSHOT_DEADLINE_S + 5
        )
        assert arrived is not None, f"no {TRADER} snapshot with AAPL within 10 s of the fill"
        seconds, snapshot = arrived[0] - filled, arrived[1]
        assert seconds <= SNAPSHOT_DEADLINE_S
        assert snapshot["var_99"] and snapshot["var_99"] > 0, snapshot
        assert snapshot["gross_exposure"] == pytest.approx(100 * SYMBOLS["AAPL"])

        # The page shows the account with its VaR (the text the table renders). The row may
        # still hold the flat book's 0 from before the fill (the browser can trail the
        # socket listener above): wait for the fill's snapshot, not the first number.
        shown = await page.wait_for(
            f"(() => {{ const t = {row_text(TRADER, 'var99')};"
            " return t && t !== '—' && parseFloat(t.replace(/,/g, '')) > 0 ? t : null; })()",
            SNAPSHOT_DEADLINE_S,
            f"{TRADER} row with VaR99",
        )
        page_var = float(shown.replace(",", ""))
        assert page_var > 0
        assert await page.evaluate(row_text(TRADER, "es975")) not in ("", "—", None)

        # Decisions with reasons and the alert reach the page's feeds.
        await asyncio.to_thread(feed.order, "ok-1", TRADER, "MSFT", 10)
        await asyncio.to_thread(feed.order, "too-big-1", TRADER, "AAPL", 9000)
        await page.wait_for(
            "document.getElementById('decisions').textContent.includes('max_order_qty')",
            30,
            "rejected decision with its reason",
        )
        await page.wait_for(
            "document.getElementById('decisions').textContent.includes('ok-1')", 30, "approval"
        )
        await page.wait_for(
            "document.getElementById('alerts').textContent.includes('gross_above_50k')",
            30,
            "the FIRING alert",
        )
        await page.wait_for("!!document.querySelector('tr[data-account=\"FIRM\"]')", 30, "firm")

        # Clicking the account opens its positions from GET /accounts/{a}/risk.
        await page.evaluate(f"document.querySelector('tr[data-account=\"{TRADER}\"]').click()")
        await page.wait_for(
            "document.querySelector('#positions tbody').textContent.includes('AAPL')",
            30,
            "positions of the clicked account",
        )
        assert await page.evaluate("document.getElementById('detail-title').textContent") == (
            TRADER
        )
        # The position shows its component VaR; the only position's is the account's VaR99.
        shown_component = await page.wait_for(
            "(() => { const row = [...document.querySelectorAll('#positions tbody tr')]"
            ".find((r) => r.textContent.includes('AAPL'));"
            " const t = row && row.cells[5].textContent; return t && t !== '—' ? t : null; })()",
            30,
            "AAPL's component VaR",
        )
        risk = await asyncio.to_thread(feed.get, f"/accounts/{TRADER}/risk")
        (aapl,) = [p for p in risk["positions"] if p["symbol"] == "AAPL"]
        assert aapl["component_var"] == pytest.approx(risk["var_99"], rel=1e-6)
        assert float(shown_component.replace(",", "")) == pytest.approx(risk["var_99"], abs=1.0)
        await page.wait_for(
            "document.querySelector('#limits tbody').textContent.includes('max_gross_exposure')",
            30,
            "limits with utilisation",
        )
        await page.wait_for(
            "window.redfire.history.get('DESK-A') && window.redfire.history.get('DESK-A').length"
            " >= 2",
            30,
            "two VaR points for the chart",
        )

        shot = await page.screenshot(tmp_path / "risk-page.png")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACTS / "risk-page.png")
        assert shot.stat().st_size > 20_000, "screenshot looks empty"
    listening.cancel()


async def wait_until(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return found


async def test_socket_decodes_avro_outputs(redfire_worker: Any, tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(LIMITS))
    worker: RedFireWorker = redfire_worker(
        **monitor_env(tmp_path, []),
        REDFIRE_LIMITS_FILE=str(limits),
        REDFIRE_OUTPUT_FORMAT="avro",
    )
    feed = Feed(worker, viewer="")  # no auth configured, loopback: reads are open
    await asyncio.to_thread(feed.history)
    await asyncio.to_thread(feed.set_cash, TRADER, 1_000_000.0)
    listener = SocketListener()
    listening = asyncio.create_task(
        listener.listen(f"ws://127.0.0.1:{worker.web_port}/ws", token="")
    )
    await asyncio.wait_for(listener.connected.wait(), 30)
    await asyncio.to_thread(feed.fill, TRADER, "MSFT", 20)
    filled = time.monotonic()
    await asyncio.to_thread(feed.order, "avro-1", TRADER, "MSFT", 9000)
    arrived = await wait_until(
        lambda: listener.first_snapshot(TRADER, "MSFT", filled), SNAPSHOT_DEADLINE_S + 5
    )
    assert arrived is not None and arrived[0] - filled <= SNAPSHOT_DEADLINE_S
    assert arrived[1]["var_99"] > 0 and arrived[1]["positions"][0]["qty"] == 20
    decision = await wait_until(
        lambda: next(
            (
                m
                for _, m in listener.messages
                if m["type"] == "decision" and m["data"]["order_id"] == "avro-1"
            ),
            None,
        ),
        30,
    )
    assert decision is not None, "no decision for avro-1 on the socket"
    assert decision["data"]["decision"] == "REJECTED"
    assert {r["check"] for r in decision["data"]["reasons"]} >= {"max_order_qty"}
    listening.cancel()
