"""Run ``faust -A redfire worker`` as a child: the one launcher of demo, tests and benchmarks.

A ``WorkerProcess`` starts a worker in its own process group with the given
``REDFIRE_*`` environment, writes its log to a file, waits for ``/health``,
and stops it (SIGTERM, then SIGKILL) or kills it outright. It can also die
with its parent (benchmarks), and reports the process's CPU time and RSS.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redfire.embedded import stop_process_group

PR_SET_PDEATHSIG = 1


def worker_command(log_level: str = "info") -> list[str]:
    """Return the command line that starts one worker."""
    return [sys.executable, "-m", "faust", "-A", "redfire", "worker", "-l", log_level]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class WorkerProcess:
    """One worker process: its environment, its log, and how to stop it."""

    env: Mapping[str, str]
    log_file: Path
    web_port: int
    cwd: Path | None = None
    log_level: str = "info"
    die_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    launched_at: float = 0.0

    def launch(self) -> None:
        """Start the process; return at once (the log is appended to)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as output:
            self.launched_at = time.monotonic()
            self.process = subprocess.Popen(
                worker_command(self.log_level),
                cwd=self.cwd,
                env=dict(self.env),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("worker not started")
        return self.process.pid

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self, token: str | None = None) -> str | None:
        """Return /health's status ("ok", "recovering"), or None when it does not answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/health",
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return str(json.loads(response.read()).get("status"))
        except urllib.error.HTTPError as exc:  # 503 while recovering
            return "recovering" if exc.code == 503 else None
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None

    def wait_healthy(self, timeout: float = 180.0, poll: float = 0.05) -> float:
        """Wait until /health says ok; return that monotonic time.

        Raise RuntimeError (with the log's tail) if the worker exits first,
        TimeoutError if it is not ready in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            if self.health() == "ok":
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")
            time.sleep(poll)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker cleanly (SIGTERM to its group), killing it if it hangs."""
        if self.process is not None and self.process.poll() is None:
            stop_process_group(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL the worker's group: no shutdown, no flush, no commit."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the worker has used so far."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, RuntimeError):
            return math.nan
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int | None:
        """Resident set size (VmRSS), or None when the process is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, RuntimeError, ValueError, IndexError):
            return None
        return None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def start_worker(
    env: Mapping[str, str], log_file: Path, web_port: int, log_level: str = "info"
) -> WorkerProcess:
    """Start a worker with ``REDFIRE_*`` settings from ``env`` (over this process's env)."""
    worker = WorkerProcess({**os.environ, **env}, log_file, web_port, log_level=log_level)
    worker.launch()
    return worker
