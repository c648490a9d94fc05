"""pytest plugin: real Kafka brokers for RedFire's integration and reliability tests.

Load it from the top-level ``tests/conftest.py``::

    pytest_plugins = ["tests.plugins.kafka_broker"]

Fixtures
--------
``kafka_broker`` (session)
    A ``KafkaBroker``: ``bootstrap``, ``kind`` (``env`` | ``testcontainers`` |
    ``local``) and, for ``local``, the ``process`` (a launcher ``KafkaProcess``).
    Chosen in this order, started once per session, stopped at its end:

    1. ``REDFIRE_TEST_BOOTSTRAP`` if set (used as is, never stopped);
    2. testcontainers' ``KafkaContainer`` (KRaft) if a Docker daemon answers a
       ping (``REDFIRE_TEST_DOCKER=0`` skips the probe; image from
       ``REDFIRE_TEST_KAFKA_IMAGE``); a container that fails to start falls
       through to 3 with a warning;
    3. the Maven Central jars via ``deploy/kafka/kafka.py``: one combined
       broker+controller on free 127.0.0.1 ports with a temporary data dir
       (``REDFIRE_TEST_KAFKA_KEEP=1`` keeps the dir for post-mortems).

    Never a mock: if none of these works the fixture errors with the reason.
``kafka_bootstrap`` (session)
    ``"127.0.0.1:PORT"`` of that broker.
``kafka_namespace`` (function)
    A ``KafkaNamespace`` unique to the test: ``app_id`` (consumer group /
    faust app id / changelog prefix), ``topic_prefix`` and ``topic(name)``, so
    that tests sharing the session broker never see each other's data.
``kafka_cluster`` (session, lazy)
    Bootstrap of a 3-node KRaft cluster (each node broker+controller), started
    only when a test asks for it. ``REDFIRE_TEST_CLUSTER_BOOTSTRAP`` overrides.
``kafka_cluster_nodes`` (function)
    The cluster's three ``KafkaProcess`` objects, for tests that ``kill()`` or
    ``stop()`` nodes and ``restart()`` them. Every node is alive and ready when
    the test starts, and any node the test left down is restarted afterwards,
    so the cluster is healthy for the next test. Skips when the cluster came
    from ``REDFIRE_TEST_CLUSTER_BOOTSTRAP`` (its nodes are not ours to kill).

Every broker this plugin starts dies with the pytest process (PDEATHSIG), so
an interrupted run leaves no JVM behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_PATH = REPO_ROOT / "deploy" / "kafka" / "kafka.py"
LAUNCHER_MODULE = "redfire_test_kafka_launcher"

ENV_BOOTSTRAP = "REDFIRE_TEST_BOOTSTRAP"
ENV_CLUSTER_BOOTSTRAP = "REDFIRE_TEST_CLUSTER_BOOTSTRAP"
ENV_DOCKER = "REDFIRE_TEST_DOCKER"
ENV_IMAGE = "REDFIRE_TEST_KAFKA_IMAGE"
ENV_KEEP = "REDFIRE_TEST_KAFKA_KEEP"
DEFAULT_IMAGE = "confluentinc/cp-kafka:7.9.0"
START_TIMEOUT = 180.0
CLUSTER_SIZE = 3


class BrokerNode(Protocol):
    """What tests may do with a node started from the jars (``KafkaProcess``)."""

    node_id: int
    port: int
    pid: int | None
    ready_seconds: float | None

    @property
    def bootstrap(self) -> str: ...

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    def stop(self, timeout: float = 15.0) -> None: ...

    def restart(self, timeout: float = 90.0) -> float: ...

    def wait_ready(self, timeout: float = 90.0, expected_brokers: int | None = None) -> float: ...

    def rss_bytes(self) -> int | None: ...

    def log_tail(self, lines: int = 40) -> str: ...


def launcher() -> ModuleType:
    """``deploy/kafka/kafka.py`` as a module (``deploy`` is not a package)."""
    module = sys.modules.get(LAUNCHER_MODULE)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(LAUNCHER_MODULE, LAUNCHER_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Kafka launcher from {LAUNCHER_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[LAUNCHER_MODULE] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@dataclass
class KafkaBroker:
    """The session's broker and where it came from."""

    bootstrap: str
    kind: str
    process: BrokerNode | None = None
    start_seconds: float | None = None
    _cleanup: list[Any] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class KafkaNamespace:
    """Names private to one test."""

    token: str
    app_id: str
    topic_prefix: str

    def topic(self, name: str) -> str:
        """``name`` with this test's prefix."""
        return f"{self.topic_prefix}{name}"

    def env(self, bootstrap: str) -> dict[str, str]:
        """RedFire settings (DESIGN.md §2) pointing a worker at this namespace."""
        return {
            "REDFIRE_BROKER": f"kafka://{bootstrap}",
            "REDFIRE_APP_ID": self.app_id,
            "REDFIRE_TOPIC_PREFIX": self.topic_prefix,
        }


def _strip_scheme(bootstrap: str) -> str:
    return ",".join(
        part.strip().removeprefix("kafka://").removeprefix("PLAINTEXT://")
        for part in bootstrap.split(",")
        if part.strip()
    )


def _docker_answers() -> bool:
    if os.environ.get(ENV_DOCKER, "").lower() in ("0", "false", "no", "off"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False  # the common no-Docker case, without importing anything
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_container() -> KafkaBroker | None:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # older testcontainers
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError:
            return None
    began = time.monotonic()
    container: Any = KafkaContainer(os.environ.get(ENV_IMAGE, DEFAULT_IMAGE))
    container.with_kraft()
    for key, value in {
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
        "KAFKA_NUM_PARTITIONS": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }.items():
        container.with_env(key, value)
    try:
        container.start(timeout=int(START_TIMEOUT))
        bootstrap = str(container.get_bootstrap_server())
    except Exception as exc:
        warnings.warn(
            f"Docker answers but the Kafka container did not start ({exc!r}); "
            "falling back to the local Kafka jars",
            stacklevel=2,
        )
        with contextlib.suppress(Exception):
            container.stop()
        return None
    broker = KafkaBroker(bootstrap, "testcontainers", start_seconds=time.monotonic() - began)
    broker._cleanup.append(container.stop)
    return broker


def _temp_data_dir(label: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"redfire-{label}-"))


def _port_race(exc: Exception) -> bool:
    """A port picked as free was taken before the broker bound it."""
    return "in use" in str(exc) or "Address already in use" in str(exc)


def _start_local_single() -> KafkaBroker:
    kafka = launcher()
    data_dir = _temp_data_dir("kafka")
    began = time.monotonic()
    for attempt in range(3):
        port, controller_port = kafka.free_ports(2)
        try:
            node: BrokerNode = kafka.start_single(
                port,
                data_dir,
                controller_port=controller_port,
                wipe=attempt > 0,
                timeout=START_TIMEOUT,
                die_with_parent=True,
            )
            break
        except Exception as exc:
            if attempt == 2 or not _port_race(exc):
                _remove_dir(data_dir)
                raise
    broker = KafkaBroker(node.bootstrap, "local", node, time.monotonic() - began)
    broker._cleanup.append(lambda: node.stop(timeout=10.0))
    broker._cleanup.append(lambda: _remove_dir(data_dir))
    return broker


def _remove_dir(path: Path) -> None:
    if os.environ.get(ENV_KEEP, "") not in ("", "0"):
        print(f"\nkafka data kept in {path}")
        return
    shutil.rmtree(path, ignore_errors=True)


def _close(broker: KafkaBroker) -> None:
    errors = []
    for step in broker._cleanup:
        try:
            step()
        except Exception as exc:
            errors.append(exc)
    broker._cleanup.clear()
    if errors:
        raise errors[0]


_SESSION_BROKERS: list[KafkaBroker] = []


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The session's single broker: env, else testcontainers, else local jars."""
    env = os.environ.get(ENV_BOOTSTRAP, "").strip()
    broker: KafkaBroker | None = None
    if env:
        broker = KafkaBroker(_strip_scheme(env), "env")
    elif _docker_answers():
        broker = _start_container()
    if broker is None:
        try:
            broker = _start_local_single()
        except Exception as exc:
            pytest.fail(
                "no Kafka broker for the tests: REDFIRE_TEST_BOOTSTRAP is unset, no Docker "
                f"daemon answered, and the local jars did not start:\n{exc}",
                pytrace=False,
            )
    _SESSION_BROKERS.append(broker)
    try:
        yield broker
    finally:
        _close(broker)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """``host:port`` of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture
def kafka_namespace() -> KafkaNamespace:
    """A fresh app id and topic prefix for this test."""
    token = uuid.uuid4().hex[:8]
    return KafkaNamespace(token=token, app_id=f"redfire-t{token}", topic_prefix=f"t{token}-")


@dataclass
class _Cluster:
    bootstrap: str
    nodes: list[BrokerNode]


@pytest.fixture(scope="session")
def _kafka_cluster_state() -> Iterator[_Cluster]:
    env = os.environ.get(ENV_CLUSTER_BOOTSTRAP, "").strip()
    if env:
        yield _Cluster(_strip_scheme(env), [])
        return
    kafka = launcher()
    data_dir = _temp_data_dir("kafka-cluster")
    began = time.monotonic()
    for attempt in range(3):
        ports = kafka.free_ports(2 * CLUSTER_SIZE)
        try:
            nodes: list[BrokerNode] = kafka.start_cluster(
                CLUSTER_SIZE,
                data_dir=data_dir,
                ports=ports[:CLUSTER_SIZE],
                controller_ports=ports[CLUSTER_SIZE:],
                wipe=attempt > 0,
                timeout=START_TIMEOUT,
                die_with_parent=True,
            )
            break
        except Exception as exc:
            if attempt < 2 and _port_race(exc):
                continue
            _remove_dir(data_dir)
            pytest.fail(f"the 3-node Kafka cluster did not start:\n{exc}", pytrace=False)
    cluster = _Cluster(kafka.bootstrap_of(nodes), nodes)
    broker = KafkaBroker(cluster.bootstrap, "local-cluster", None, time.monotonic() - began)
    _SESSION_BROKERS.append(broker)
    try:
        yield cluster
    finally:
        kafka.stop(nodes, timeout=10.0)
        _remove_dir(data_dir)


@pytest.fixture(scope="session")
def kafka_cluster(_kafka_cluster_state: _Cluster) -> str:
    """Bootstrap (all three nodes) of the session's 3-node KRaft cluster."""
    return _kafka_cluster_state.bootstrap


def _heal(nodes: list[BrokerNode]) -> None:
    for node in nodes:
        if not node.is_alive():
            node.restart(timeout=START_TIMEOUT)
    for node in nodes:
        node.wait_ready(timeout=START_TIMEOUT)


@pytest.fixture
def kafka_cluster_nodes(_kafka_cluster_state: _Cluster) -> Iterator[list[BrokerNode]]:
    """The cluster's nodes, all up; any the test leaves down are restarted after."""
    nodes = _kafka_cluster_state.nodes
    if not nodes:
        pytest.skip(f"cluster from {ENV_CLUSTER_BOOTSTRAP}: its nodes cannot be killed from here")
    _heal(nodes)
    yield nodes
    _heal(nodes)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a real Kafka broker")
    config.addinivalue_line("markers", "reliability: crash/restart tests against real Kafka")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for broker in _SESSION_BROKERS:
        took = f", up in {broker.start_seconds:.1f}s" if broker.start_seconds else ""
        terminalreporter.write_line(f"kafka: {broker.kind} broker at {broker.bootstrap}{took}")
