"""Run real RedFire workers (``faust -A redfire worker``) against a real broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redfire.settings import Settings
from redfire.streams.admin import ensure_topics

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedFireWorker:
    """One worker process with its own data dir and web port; restartable."""

    bootstrap: str
    app_id: str
    topic_prefix: str
    datadir: Path
    partitions: int = 2
    extra_env: Mapping[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "REDFIRE_BROKER": f"kafka://{self.bootstrap}",
            "REDFIRE_APP_ID": self.app_id,
            "REDFIRE_TOPIC_PREFIX": self.topic_prefix,
            "REDFIRE_PARTITIONS": str(self.partitions),
            "REDFIRE_DATADIR": str(self.datadir),
            "REDFIRE_STORE": "rocksdb://",
            "REDFIRE_WEB_PORT": str(self.web_port),
            "REDFIRE_REBALANCE_TIMEOUT_S": "10",
            "REDFIRE_SESSION_TIMEOUT_S": "10",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def settings(self) -> Settings:
        """Return the settings this worker runs with (its environment, not the test's)."""
        chosen = {
            name.removeprefix("REDFIRE_").lower(): value
            for name, value in self.env().items()
            if name.startswith("REDFIRE_")
        }
        return Settings(_env_file=None, **chosen)  # type: ignore[call-arg]

    def create_topics(self) -> None:
        """Create the topics up front, as an operator would, so producers can't race."""
        ensure_topics(self.settings())

    def start(self, timeout: float = 120.0) -> float:
        """Start the worker and return once /health says ok; return seconds taken."""
        started = time.monotonic()
        self.spawn()
        self.wait_healthy(timeout)
        return time.monotonic() - started

    def spawn(self) -> None:
        """Start the worker process without waiting for it (it may exit: see exit_code)."""
        self.starts += 1
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.datadir.parent / f"{self.app_id}-worker-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "redfire", "worker", "-l", "info"],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def exit_code(self) -> int | None:
        """Return the exit status of the last process, or None while it runs (or never ran)."""
        return None if self.process is None else self.process.poll()

    def rss_bytes(self) -> int | None:
        """Return the worker's resident memory (VmRSS), or None when it is not running."""
        if not self.is_alive() or self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log_tail()}")
            try:
                if self.get("/health").get("status") == "ok":
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def get(self, path: str, timeout: float = 10.0) -> Any:
        """GET a JSON route of this worker."""
        url = f"http://127.0.0.1:{self.web_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())

    def post(self, path: str, body: Mapping[str, Any], token: str | None = None) -> Any:
        """POST a JSON body to this worker."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker: no shutdown, no flush, no commit."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker cleanly, killing it if it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
