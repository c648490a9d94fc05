"""A live Prometheus (Debian's package) scrapes a real worker through a scripted run.

The shipped deploy/prometheus/prometheus.yml and alerts.yml are used as they are, except
that the RedFire job points at the test's worker and everything runs every second. After
a run of ticks, orders (approved and rejected) and fills, PromQL returns the redfire_*
and faust_* series the dashboard and the rules use; every shipped rule evaluates without
error on the real data; and a burst of dead letters fires DeadLettersIncreasing (after
its ``for: 1m``).

Skipped only when ``prometheus`` is not on PATH: ``make prometheus`` (part of ``make
test``) installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import WorkerFactory
from tests.support.eventually import eventually
from tests.support.mixed import DecisionWatch, now_ms, reliable_producer, send
from tests.support.worker import RedFireWorker, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "prometheus"
FIRING_WITHIN_S = 150  # DeadLettersIncreasing has "for: 1m"


class Prometheus:
    """A Prometheus server on a free port with a temporary TSDB."""

    def __init__(self, port: int, config: Path, workdir: Path) -> None:
        self.port = port
        self.log = workdir / "prometheus.log"
        binary = shutil.which("prometheus")
        assert binary is not None
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        eventually(self.ready, timeout=60, message="Prometheus ready", retry_on=(OSError,))

    def ready(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
            return r.status == 200

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=promql)["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def scrape_config(worker: RedFireWorker, prometheus_port: int, path: Path) -> Path:
    """Write the shipped config with the worker as the only target, every second."""
    config = yaml.safe_load((SHIPPED / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str(SHIPPED / name) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        job.update(scrape_interval="1s", scrape_timeout="1s")
        if job["job_name"] == "redfire":
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{worker.web_port}"]
        else:
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{prometheus_port}"]
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not on PATH: `make prometheus` installs Debian's package")
    started: list[Prometheus] = []

    def start(worker: RedFireWorker) -> Prometheus:
        port = free_port()
        config = scrape_config(worker, port, tmp_path / "prometheus.yml")
        server = Prometheus(port, config, tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def scripted_run(worker: RedFireWorker) -> list[str]:
    """Send ticks, a cash command, orders (some rejected) and fills; return the order ids."""
    producer = reliable_producer(worker.bootstrap)
    command = {
        "command_id": "cash-PRO1",
        "command": "SET_CASH",
        "account": "PRO1",
        "payload": {"cash": 1_000_000.0},
        "ts": now_ms(),
    }
    send(producer, worker.topic("risk_commands"), "PRO1", command)
    for symbol, price in (("AAPL", 190.0), ("MSFT", 410.0)):
        send(
            producer,
            worker.topic("ticks"),
            symbol,
            {"symbol": symbol, "ts": now_ms(), "price": price},
        )
    assert producer.flush(30) == 0
    eventually(
        lambda: worker.get("/accounts/PRO1/risk")["cash"] == 1_000_000.0,
        timeout=60,
        retry_on=(AssertionError, OSError),
    )
    # Ticks travel on their own topic: without this wait a slow machine can decide
    # every order before the price lands, and all of them are rejected.
    eventually(
        lambda: worker.get("/market/AAPL")["price"]["price"] == 190.0,
        timeout=60,
        retry_on=(AssertionError, OSError, TypeError),
    )
    order_ids = []
    for n in range(20):
        qty = 100_000 if n % 4 == 0 else 10  # over the buying power: rejected
        order = {
            "order_id": f"pro-{n}",
            "account": "PRO1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": qty,
            "price": 190.0,
            "order_type": "LIMIT",
            "action": "NEW",
            "ts": now_ms(),
        }
        order_ids.append(order["order_id"])
        send(producer, worker.topic("orders"), "PRO1", order)
        fill = {
            "fill_id": f"pro-f{n}",
            "order_id": f"gw-{n}",
            "account": "PRO1",
            "symbol": "MSFT",
            "side": "BUY",
            "qty": 1,
            "price": 410.0,
            "fee": 0.0,
            "ts": now_ms(),
        }
        send(producer, worker.topic("fills"), "PRO1", fill)
    assert producer.flush(30) == 0
    return order_ids


def dead_letter_burst(worker: RedFireWorker, seconds: float = 6.0) -> int:
    """Send a bad order every 0.25 s for ``seconds``: the counter rises across scrapes."""
    producer = reliable_producer(worker.bootstrap)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        send(producer, worker.topic("orders"), "PRO1", b'{"order_id": "broken", "qty": "lots"')
        producer.flush(10)
        sent += 1
        time.sleep(0.25)  # pacing the burst across scrapes, not waiting for a result
    return sent


def series(prometheus: Prometheus, promql: str) -> list[dict[str, Any]]:
    found = prometheus.query(promql)
    assert found, f"no series for {promql}"
    return found


def test_live_prometheus_scrapes_a_worker_and_the_shipped_rules_fire_on_real_data(
    redfire_worker: WorkerFactory, prometheus_for: Any
) -> None:
    worker: RedFireWorker = redfire_worker(partitions=2)
    prometheus: Prometheus = prometheus_for(worker)
    eventually(
        lambda: series(prometheus, 'up{job="redfire"} == 1'),
        timeout=30,
        message="Prometheus scrapes the worker",
    )
    watch = DecisionWatch(worker.bootstrap, worker.topic("order_decisions")).start()
    order_ids = scripted_run(worker)
    watch.wait_all(order_ids, timeout=60)
    watch.stop()

    def redfire_series() -> bool:
        decisions = series(prometheus, "sum by (decision) (redfire_decisions_total)")
        assert {s["metric"]["decision"] for s in decisions} == {"APPROVED", "REJECTED"}
        total = sum(float(s["value"][1]) for s in decisions)
        assert total == len(order_ids), f"{total} decisions counted, {len(order_ids)} made"
        series(prometheus, 'redfire_events_total{outcome="accepted"} > 0')
        series(prometheus, 'redfire_rejections_total{check="buying_power"} > 0')
        series(prometheus, "redfire_decision_latency_seconds_bucket")
        # Every order request read counts its wait from the record's Kafka timestamp.
        series(prometheus, f"redfire_order_wait_seconds_count >= {len(order_ids)}")
        return True

    eventually(redfire_series, timeout=30, interval=0.5, message="redfire_* series")
    for promql in (
        "faust_total_rebalances_recovering",
        "faust_topic_partition_end_offset",
        "faust_topic_partition_offset_commited",
        "faust_messages_received_total",
    ):
        eventually(lambda q=promql: series(prometheus, q), timeout=30, message=promql)

    sent = dead_letter_burst(worker)
    eventually(
        lambda: series(prometheus, 'redfire_dead_letters_total{topic=~".*orders"} > 0'),
        timeout=30,
        message="dead letters counted",
    )

    def firing() -> bool:
        alerts = prometheus.api("alerts")["alerts"]
        states = {(a["labels"]["alertname"], a["state"]) for a in alerts}
        assert ("DeadLettersIncreasing", "firing") in states, states
        return True

    began = time.monotonic()
    eventually(
        firing, timeout=FIRING_WITHIN_S, interval=1.0, message="DeadLettersIncreasing firing"
    )
    fired_after = time.monotonic() - began
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert len(rules) >= 7, f"the shipped rules are not loaded: {[r['name'] for r in rules]}"
    assert not broken, f"rules that do not evaluate on real data: {broken}"
    print(
        f"\nprometheus: {len(rules)} rules healthy; {sent} bad orders fired "
        f"DeadLettersIncreasing {fired_after:.0f}s after the burst"
    )
