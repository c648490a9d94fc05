"""Drive Debian's headless Chromium over the Chrome DevTools Protocol (CDP), offline.

No driver binary and no browser download: Chromium is the apt package (``make test``
installs it), and CDP is JSON over the WebSocket Chromium opens when started with
``--remote-debugging-port=0`` (the port it picked is written to ``DevToolsActivePort`` in
the profile directory). aiohttp, already a dependency, is the WebSocket client.

    async with Chromium.launch(tmp_path) as browser:
        page = await browser.open("http://127.0.0.1:6066/")
        await page.wait_for("document.title", timeout=10)
        await page.screenshot(tmp_path / "page.png")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1440,1100",
    "--remote-debugging-port=0",
)


def chromium_binary() -> str:
    """Return the Chromium executable, or fail saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "Chromium is not installed: run 'make chromium' (apt-get install chromium)"
    )


class CDPError(RuntimeError):
    """A DevTools command answered with an error."""


class Chromium:
    """One headless Chromium process with a fresh profile, and its browser-level CDP socket."""

    def __init__(self, process: subprocess.Popen[bytes], socket: Any, session: Any) -> None:
        self.process = process
        self.socket = socket
        self.http = session
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, workdir: Path, timeout: float = 30.0) -> AsyncIterator[Chromium]:
        """Start Chromium with a fresh --user-data-dir under ``workdir``; stop it after."""
        profile = workdir / f"chromium-profile-{time.monotonic_ns()}"
        profile.mkdir(parents=True)
        log = open(workdir / "chromium.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        session = aiohttp.ClientSession()
        browser: Chromium | None = None
        try:
            url = await _devtools_url(profile, process, timeout)
            socket = await session.ws_connect(url, max_msg_size=0)
            browser = cls(process, socket, session)
            yield browser
        finally:
            if browser is not None:
                await browser.close()
            await session.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            log.close()

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            future = self.pending.pop(body.get("id", -1), None)
            if future is None or future.done():
                continue
            if "error" in body:
                future.set_exception(CDPError(str(body["error"])))
            else:
                future.set_result(body.get("result", {}))
        for future in self.pending.values():
            if not future.done():
                future.set_exception(CDPError("Chromium closed the DevTools connection"))

    async def send(
        self, method: str, session_id: str | None = None, timeout: float = 30.0, **params: Any
    ) -> Any:
        """Send one CDP command (to a page when ``session_id`` is given); return its result."""
        number = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        await self.socket.send_str(json.dumps(message))
        return await asyncio.wait_for(future, timeout)

    async def open(self, url: str) -> Page:
        """Open ``url`` in a new tab and return it."""
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1440,
            height=1100,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.send("Page.navigate", url=url)
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close", timeout=5)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader
        await self.socket.close()


class Page:
    """One tab, driven through its flattened CDP session."""

    def __init__(self, browser: Chromium, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    async def send(self, method: str, **params: Any) -> Any:
        return await self.browser.send(method, self.session_id, **params)

    async def evaluate(self, expression: str) -> Any:
        """Return the JSON value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, message: str = "") -> Any:
        """Evaluate ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            with contextlib.suppress(CDPError):  # the page may be mid-navigation
                last = await self.evaluate(expression)
                if last:
                    return last
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{message or expression}: not true after {timeout:g}s; last value {last!r}"
                )
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        """Write a PNG of the whole page (beyond the viewport) to ``path``."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = await self.send(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def _devtools_url(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    """Return the browser's DevTools WebSocket URL once Chromium has written it."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"Chromium exited with {process.returncode} before DevTools")
        with contextlib.suppress(FileNotFoundError):
            lines = marker.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if time.monotonic() > deadline:
            raise AssertionError(f"Chromium wrote no {marker} within {timeout:g}s")
        await asyncio.sleep(0.1)
