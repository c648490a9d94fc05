"""Run real RedFire workers (``faust -A redfire worker``) against a real broker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from redfire.settings import Settings
from redfire.streams.admin import ensure_topics
from redfire.worker_process import WorkerProcess

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
    handle: WorkerProcess | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        """Return the worker's environment: the shipped defaults but for what is listed here.

        Where it runs (broker, app id, topic prefix, data dir, web port) is per test. The
        two other overrides are for speed only and change no behaviour under test:
        ``REDFIRE_PARTITIONS`` (2, not 4: fewer partitions to assign and recover) and
        ``REDFIRE_REBALANCE_TIMEOUT_S`` (10, not 30: after a SIGKILL the group does not
        wait as long for the dead member). ``extra_env`` is each test's own.
        ``tests/integration/test_defaults.py`` runs a worker on nothing but the first five.
        """
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("REDFIRE_")}
        env = {
            **inherited,
            "REDFIRE_BROKER": f"kafka://{self.bootstrap}",
            "REDFIRE_APP_ID": self.app_id,
            "REDFIRE_TOPIC_PREFIX": self.topic_prefix,
            "REDFIRE_DATADIR": str(self.datadir),
            "REDFIRE_WEB_PORT": str(self.web_port),
            "REDFIRE_PARTITIONS": str(self.partitions),  # speed: fewer partitions
            "REDFIRE_REBALANCE_TIMEOUT_S": "10",  # speed: faster regrouping after a kill
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def settings(self) -> Settings:
        """Return the settings this worker runs with (its environment, not the test's)."""
        # Read through the same environment source as the worker, so values that
        # are JSON in the environment (per-account currencies) parse the same way.
        with mock.patch.dict(os.environ, self.env(), clear=True):
            return Settings(_env_file=None)  # type: ignore[call-arg]

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
        log_file = (
            self.datadir.parent / f"{self.app_id}-{self.datadir.name}-worker-{self.starts}.log"
        )
        self.launch_with(self.env(), log_file)

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

    def launch_with(self, env: Mapping[str, str], log_file: Path) -> None:
        """Start the worker process with exactly ``env`` (redfire.worker_process)."""
        self.handle = WorkerProcess(env, log_file, self.web_port, cwd=REPO)
        self.handle.launch()

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return None if self.handle is None else self.handle.process

    @property
    def log_path(self) -> Path | None:
        return None if self.handle is None else self.handle.log_file

    def wait_healthy(self, timeout: float) -> None:
        if self.handle is None:
            raise AssertionError("worker not started")
        try:
            self.handle.wait_healthy(timeout, poll=0.2)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(str(exc)) from None

    @property
    def default_token(self) -> str | None:
        """The admin token the worker was started with: read routes need a token then."""
        return self.extra_env.get("REDFIRE_ADMIN_TOKEN") or None

    def get(self, path: str, timeout: float = 10.0, token: str | None = None) -> Any:
        """GET a JSON route of this worker (with a bearer token when given or configured)."""
        token = token or self.default_token
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}",
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def get_text(self, path: str, timeout: float = 10.0) -> str:
        """GET a plain-text route of this worker (``/metrics``)."""
        url = f"http://127.0.0.1:{self.web_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text: str = response.read().decode()
            return text

    def post(self, path: str, body: Mapping[str, Any], token: str | None = None) -> Any:
        """POST a JSON body to this worker."""
        token = token or self.default_token
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
        return self.handle is not None and self.handle.is_running()

    def kill(self) -> None:
        """SIGKILL the worker: no shutdown, no flush, no commit."""
        if self.handle is not None:
            self.handle.kill()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker cleanly, killing it if it does not stop in time."""
        if self.handle is not None:
            self.handle.stop(timeout)

    def log_tail(self, lines: int = 60) -> str:
        return "(no log)" if self.handle is None else self.handle.log_tail(lines)
