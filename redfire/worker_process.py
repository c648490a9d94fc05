"""Run ``faust -A redfire worker`` as a child process (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from redfire.embedded import stop_process_group


def worker_command(log_level: str = "warning") -> list[str]:
    """Return the command line that starts one worker."""
    return [sys.executable, "-m", "faust", "-A", "redfire", "worker", "-l", log_level]


def start_worker(
    env: Mapping[str, str], log_file: Path, log_level: str = "info"
) -> subprocess.Popen[bytes]:
    """Start a worker in its own process group with ``REDFIRE_*`` settings from ``env``."""
    full_env = {**os.environ, **env}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as output:
        return subprocess.Popen(
            worker_command(log_level),
            env=full_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a worker cleanly (SIGTERM), killing it if it hangs."""
    stop_process_group(process, timeout)
