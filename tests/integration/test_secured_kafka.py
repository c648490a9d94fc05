"""RedFire on a secured Kafka: SASL_SSL with SCRAM-SHA-512 over TLS.

A test broker from the jars gets a SASL_SSL listener (deploy/kafka/kafka.py) with a
certificate for 127.0.0.1 signed by a CA made here with openssl, and one SCRAM user.
With only the REDFIRE_KAFKA_* settings, ``redfire demo`` (its worker and its feed),
``redfire replay`` and ``redfire tail`` all work over it. A wrong password or a CA that
did not sign the broker's certificate makes the CLI and a worker fail within seconds,
with a message naming the setting to fix, never a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.kafka_broker import launcher
from tests.support.eventually import eventually
from tests.support.tls import Pki, make_pki
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "redfire", "scram-secret-1"
FAIL_WITHIN_S = 20.0  # what "within seconds" means here: start-up included, on 2 loaded cores


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    pki: Pki

    def env(self, password: str = PASSWORD, cafile: Path | None = None) -> dict[str, str]:
        """Return the settings a client needs, with a password and CA of the test's choice."""
        return {
            "REDFIRE_BROKER": f"kafka://{self.bootstrap}",
            "REDFIRE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "REDFIRE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "REDFIRE_KAFKA_SASL_USERNAME": USER,
            "REDFIRE_KAFKA_SASL_PASSWORD": password,
            "REDFIRE_KAFKA_SSL_CAFILE": str(cafile or self.pki.ca_cert),
        }


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    kafka = launcher()
    root = tmp_path_factory.mktemp("secure-kafka")
    pki = make_pki(root / "pki")
    port, controller_port, secure_port = kafka.free_ports(3)
    listener = kafka.SaslSslListener(
        secure_port, pki.keystore, pki.keystore_password, users={USER: PASSWORD}
    )
    node = kafka.start_single(
        port,
        root / "kafka",
        controller_port=controller_port,
        wipe=True,
        timeout=180,
        die_with_parent=True,
        sasl_ssl=listener,
    )
    try:
        yield SecureBroker(listener.bootstrap, pki)
    finally:
        node.stop(timeout=10)


def redfire_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m redfire ARGS`` with the given settings; return its result."""
    return subprocess.run(
        [sys.executable, "-m", "redfire", *args],
        cwd=REPO,
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_worker_feed_replay_and_tail_work_over_sasl_ssl(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    env = secure_broker.env() | {"REDFIRE_PARTITIONS": "1"}  # the demo's topics have one
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "redfire", "demo", "--broker", f"kafka://{secure_broker.bootstrap}",
             "--seconds", "300"],
            cwd=REPO,
            env={**os.environ, **env, "COLUMNS": "200"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        eventually(
            lambda: (
                demo.poll() is None
                and ("APPROVED" in output.read_text() or "REJECTED" in output.read_text())
            ),
            timeout=180,
            interval=0.5,
            message="the demo's worker decides the demo feed's orders over SASL_SSL",
        )
        orders = tmp_path / "orders.jsonl"
        ids = [f"secure-{n}" for n in range(3)]
        orders.write_text(
            "".join(
                json.dumps(
                    {"order_id": order_id, "account": "ACC-1", "symbol": "AAPL", "side": "BUY",
                     "qty": 1, "price": 190.0, "order_type": "LIMIT", "ts": int(time.time() * 1000)}
                ) + "\n"
                for order_id in ids
            )
        )  # fmt: skip
        replayed = redfire_cli("replay", str(orders), "--topic", "orders", env=env)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "sent 3" in replayed.stdout, replayed.stdout
        eventually(
            lambda: all(order_id in output.read_text() for order_id in ids),
            timeout=120,
            interval=0.5,
            message="the demo prints the decisions of the replayed orders",
        )
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        demo.wait(60)
    text = output.read_text()
    assert "stopped" in text, text[-2000:]  # the demo stopped its worker cleanly
    # With the demo stopped, nothing new arrives: tail ends 3 s after the last record.
    shown = redfire_cli("tail", "order_decisions", "--from-beginning", "--timeout", "3", env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.startswith("{")]
    decided = {json.loads(line)["order_id"] for line in lines}
    assert set(ids) <= decided, f"tail shows {len(decided)} decisions, not all of {ids}"


@pytest.mark.parametrize(
    "mistake,named",
    [
        ("password", "REDFIRE_KAFKA_SASL_PASSWORD"),
        ("certificate", "REDFIRE_KAFKA_SSL_CAFILE"),
    ],
)
def test_a_wrong_password_or_untrusted_certificate_fails_fast_and_says_which(
    secure_broker: SecureBroker, tmp_path: Path, mistake: str, named: str
) -> None:
    if mistake == "password":
        env = secure_broker.env(password="not-the-password")
    else:
        env = secure_broker.env(cafile=secure_broker.pki.rogue_ca_cert)
    took = {}
    for command in (["tail", "order_decisions", "--timeout", "1"],
                    ["set-cash", "ACC-1", "1000"]):  # fmt: skip
        began = time.monotonic()
        result = redfire_cli(*command, env=env, timeout=60)
        took[command[0]] = time.monotonic() - began
        said = result.stdout + result.stderr
        assert result.returncode != 0, said
        assert named in said, f"redfire {command[0]} does not name {named}:\n{said}"
        assert took[command[0]] < FAIL_WITHIN_S, (
            f"redfire {command[0]} took {took[command[0]]:.1f}s"
        )

    worker = RedFireWorker(
        bootstrap=secure_broker.bootstrap,
        app_id=f"redfire-bad-{mistake}",
        topic_prefix=f"bad-{mistake}-",
        datadir=tmp_path / "data",
        extra_env=env,
    )
    began = time.monotonic()
    worker.spawn()
    try:
        eventually(lambda: worker.exit_code is not None, timeout=FAIL_WITHIN_S, interval=0.1,
                   message=f"a worker with a wrong {mistake} exits")  # fmt: skip
    finally:
        worker.kill()
    took["worker"] = time.monotonic() - began
    assert worker.exit_code != 0
    assert named in worker.log_tail(200), worker.log_tail(40)
    print(
        f"\nwrong {mistake}: " + ", ".join(f"{name} failed in {s:.1f}s" for name, s in took.items())
    )
