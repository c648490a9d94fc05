"""Issue 9: the worker starts on its shipped defaults, and refuses bad settings by name.

The first test runs ``faust -A redfire worker`` with nothing set but where it runs (broker,
app id, topic prefix, data dir, web port): every other setting is the shipped default, and
an order is driven to a decision on the real Kafka fixture. The others start a worker with
a bad setting and check that it stops at once, with exit status 78 and a message naming
the variable, instead of a faust traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from redfire.settings import SettingsError
from redfire.worker_process import worker_command
from tests.support.eventually import eventually
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.worker import REPO, RedFireWorker, free_port

pytestmark = pytest.mark.integration

WHERE_IT_RUNS = (
    "REDFIRE_BROKER",
    "REDFIRE_APP_ID",
    "REDFIRE_TOPIC_PREFIX",
    "REDFIRE_DATADIR",
    "REDFIRE_WEB_PORT",
)


def clean_env(**settings: str) -> dict[str, str]:
    """Return this process's environment without any REDFIRE_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDFIRE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


@pytest.fixture
def default_worker(
    kafka_bootstrap: str, kafka_namespace: Any, tmp_path: Path
) -> Iterator[RedFireWorker]:
    """Start a worker whose environment sets only where it runs; stop it afterwards."""
    worker = RedFireWorker(
        bootstrap=kafka_bootstrap,
        app_id=kafka_namespace.app_id,
        topic_prefix=kafka_namespace.topic_prefix,
        datadir=tmp_path / "data",
        partitions=4,  # the shipped default; only used by the helper's topic names
        web_port=free_port(),
    )
    env = clean_env(
        REDFIRE_BROKER=f"kafka://{kafka_bootstrap}",
        REDFIRE_APP_ID=worker.app_id,
        REDFIRE_TOPIC_PREFIX=worker.topic_prefix,
        REDFIRE_DATADIR=str(worker.datadir),
        REDFIRE_WEB_PORT=str(worker.web_port),
    )
    assert sorted(k for k in env if k.startswith("REDFIRE_")) == sorted(WHERE_IT_RUNS)
    # The worker creates its own topics, as on a fresh cluster.
    worker.launch_with(env, tmp_path / "worker.log")
    try:
        worker.wait_healthy(timeout=180)
        yield worker
    finally:
        worker.stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_worker_on_shipped_defaults_decides_an_order(default_worker: RedFireWorker) -> None:
    worker = default_worker
    prod = producer(worker.bootstrap)
    send_json(
        prod,
        worker.topic("risk_commands"),
        "ACC1",
        {
            "command_id": "cash-ACC1",
            "command": "SET_CASH",
            "account": "ACC1",
            "payload": {"cash": 1_000_000},
            "ts": now_ms(),
        },
    )
    send_json(
        prod, worker.topic("ticks"), "AAPL", {"symbol": "AAPL", "ts": now_ms(), "price": 190.5}
    )
    prod.flush(30)
    # Cash and prices are other topics than orders: wait until the worker shows both.
    eventually(
        lambda: worker.get("/accounts/ACC1/positions")["cash"] == 1_000_000,
        timeout=120,
        retry_on=(AssertionError, OSError),
    )
    eventually(
        lambda: worker.get("/market/AAPL")["price"]["price"] == 190.5,
        timeout=60,
        retry_on=(AssertionError, OSError, KeyError, TypeError),
    )
    decisions = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
    order = {
        "order_id": "o1",
        "account": "ACC1",
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 100,
        "price": 190.4,
        "ts": now_ms(),
    }
    send_json(prod, worker.topic("orders"), "ACC1", order)
    prod.flush(30)
    values = decisions.wait_for(lambda found: any(v["order_id"] == "o1" for v in found), 120)
    decision = next(v for v in values if v["order_id"] == "o1")
    decisions.close()
    assert decision["decision"] == "APPROVED", decision
    assert decision["reasons"] == []
    assert worker.is_alive()


def start_and_wait(
    env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        worker_command(),
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_session_longer_than_request_refuses_to_start_naming_the_settings(tmp_path: Path) -> None:
    result = start_and_wait(
        clean_env(
            REDFIRE_DATADIR=str(tmp_path / "data"),
            REDFIRE_WEB_PORT=str(free_port()),
            REDFIRE_SESSION_TIMEOUT_S="60",
        )
    )
    assert result.returncode == SettingsError.EXIT_CODE, result.stderr
    assert "REDFIRE_SESSION_TIMEOUT_S=60 is greater than REDFIRE_KAFKA_REQUEST_TIMEOUT_S=30" in (
        result.stderr
    )
    assert "REDFIRE_SESSION_TIMEOUT_S=10" in result.stderr  # a value that works
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_rules_file_refuses_to_start_naming_file_rule_and_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {rule_id: gross_typo, metric: gross_exposre, comparison: '>', threshold: 1e6}\n"
    )
    result = start_and_wait(
        clean_env(
            REDFIRE_DATADIR=str(tmp_path / "data"),
            REDFIRE_WEB_PORT=str(free_port()),
            REDFIRE_RULES_FILE=str(rules),
        )
    )
    assert result.returncode == SettingsError.EXIT_CODE, result.stderr
    assert f"REDFIRE_RULES_FILE={rules}" in result.stderr
    assert "rule 'gross_typo'" in result.stderr
    assert "metric='gross_exposre'" in result.stderr
    assert "did you mean 'gross_exposure'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


README = REPO / "README.md"


def readme_commands(after: str) -> list[str]:
    """Return the lines of the first ``bash`` block after the text ``after`` in the README."""
    text = README.read_text()
    start = text.index("```bash\n", text.index(after)) + len("```bash\n")
    return [line for line in text[start : text.index("```", start)].splitlines() if line]


def localised(line: str, worker: RedFireWorker) -> str:
    """Point a README command at this test's broker, worker port and topic prefix."""
    line = line.replace("127.0.0.1:9092", worker.bootstrap)
    line = line.replace("127.0.0.1:6066", f"127.0.0.1:{worker.web_port}")
    return re.sub(r"-t (\w+)", lambda m: f"-t {worker.topic(m.group(1))}", line)


def test_readme_kcat_examples_work_against_a_default_worker(default_worker: RedFireWorker) -> None:
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not on PATH: `make test` installs it (apt-get install kcat)")
    worker = default_worker
    lines = readme_commands("For example with `kcat`")
    assert [line.split()[0] for line in lines] == ["echo", "echo", "curl", "curl", "echo", "kcat"]
    shown = {"/positions": lambda body: body["cash"] == 1_000_000,
             "/market/": lambda body: body["price"]["price"] == 190.5}  # fmt: skip
    for line in lines[:-1]:
        command = localised(line, worker)
        if line.startswith("curl"):  # the README's "wait until the worker shows it"
            check = next(test for part, test in shown.items() if part in line)
            eventually(
                lambda command=command, check=check: check(json.loads(run_shell(command))),
                timeout=120,
                retry_on=(AssertionError, ValueError, KeyError, TypeError,
                          subprocess.CalledProcessError),
            )  # fmt: skip
        else:
            run_shell(command)
    decision = first_record(localised(lines[-1], worker), lambda r: r.get("order_id") == "o1")
    assert decision["decision"] == "APPROVED", decision


def run_shell(command: str) -> str:
    return subprocess.run(
        command, shell=True, check=True, capture_output=True, text=True, timeout=60
    ).stdout


def first_record(command: str, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Run a consumer command (it never exits by itself) until it prints a wanted record.

    ``stdbuf -oL``: kcat's stdout into a pipe is block-buffered; a terminal sees each line.
    """
    consumer = subprocess.Popen(
        f"stdbuf -oL {command}",
        shell=True,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert consumer.stdout is not None
    found: list[dict[str, Any]] = []

    def read() -> None:
        for line in consumer.stdout:  # type: ignore[union-attr]
            record = json.loads(line)
            if wanted(record):
                found.append(record)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        eventually(lambda: found, timeout=120, message=f"{command} printed the record")
    finally:
        os.killpg(consumer.pid, signal.SIGTERM)
        consumer.wait(30)
    return found[0]
