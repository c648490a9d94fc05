#!/usr/bin/env python3
"""Run real Apache Kafka (KRaft) from the Maven Central jars, for RedFire tests.

Standard library only: usable before the virtualenv exists, and importable by
the pytest plugin (``tests/plugins/kafka_broker.py``) as a module.

CLI::

    python deploy/kafka/kafka.py fetch                 # jars -> .cache/kafka/libs (once)
    python deploy/kafka/kafka.py start [--port 9092]   # single node, returns when ready
    python deploy/kafka/kafka.py start-cluster [--nodes 3 --base-port 19092]
    python deploy/kafka/kafka.py status | stop | wipe [--data-dir DIR]

API::

    node = start_single(port=9092, data_dir=".cache/kafka/data")
    nodes = start_cluster(n=3, base_port=19092, data_dir=".cache/kafka/cluster")
    nodes[0].kill(); nodes[0].restart()      # crash and recover one node
    stop(nodes)                              # or stop() for all started here

    secure = SaslSslListener(port, keystore, "pw", users={"alice": "secret"})
    node = start_single(port=9092, sasl_ssl=secure)   # + SASL_SSL (SCRAM-SHA-512 over TLS)

Brokers run as ``java -cp 'libs/*' kafka.Kafka server.properties`` in their own
session (detached), with a pid file in the node directory, so the CLI can
return leaving them in the background and ``stop`` finds them later.  Storage
is formatted first with ``kafka.tools.StorageTool`` (the class behind
``kafka-storage.sh``) and a generated cluster id.  The quorum is static
(``controller.quorum.voters``): one voter for a single node, every node for a
cluster.

Environment: ``REDFIRE_KAFKA_CACHE`` (default ``<repo>/.cache/kafka``),
``REDFIRE_KAFKA_LIBS`` (jar dir), ``REDFIRE_KAFKA_HEAP`` (default
``-Xms256m -Xmx512m``), ``REDFIRE_KAFKA_JVM_OPTS``, ``REDFIRE_KAFKA_LOG_LEVEL``
(``WARN``), ``JAVA`` / ``JAVA_HOME``, ``MVN``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
TEMPLATE = HERE / "server.properties.template"
LOG4J_CONFIG = HERE / "log4j2.properties"

CACHE_DIR = Path(os.environ.get("REDFIRE_KAFKA_CACHE") or REPO_ROOT / ".cache" / "kafka")
DEFAULT_LIBS_DIR = Path(os.environ.get("REDFIRE_KAFKA_LIBS") or CACHE_DIR / "libs")
DEFAULT_DATA_DIR = CACHE_DIR / "data"
DEFAULT_CLUSTER_DIR = CACHE_DIR / "cluster"
DEFAULT_PORT = 9092
DEFAULT_CLUSTER_BASE_PORT = 19092
CONTROLLER_PORT_OFFSET = 100  # cluster: controller of broker port p listens on p + 100

DEFAULT_HEAP = "-Xms256m -Xmx512m"
DEFAULT_JVM_OPTS = (
    "-XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow "
    "-Djava.awt.headless=true"
)
# Short-lived JVMs (the storage tool): no C2, quick start.
TOOL_JVM_OPTS = "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
STAMP_NAME = ".stamp"
DEPLOYMENT_FILE = "deployment.json"
PID_FILE = "kafka.pid"

_PR_SET_PDEATHSIG = 1


class KafkaError(RuntimeError):
    """A broker could not be fetched, formatted, started or stopped."""


def kafka_version() -> str:
    """The Kafka version pinned in ``pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    return match.group(1) if match else "unknown"


# --------------------------------------------------------------------------- jars


def pom_hash() -> str:
    """Hash of ``pom.xml``: the stamp that says which pom filled a libs dir."""
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:16]


def jars_ready(libs_dir: Path | str = DEFAULT_LIBS_DIR) -> bool:
    """True when ``libs_dir`` holds a complete fetch of the current ``pom.xml``."""
    libs = Path(libs_dir)
    stamp = libs / STAMP_NAME
    if not stamp.is_file() or stamp.read_text().strip() != pom_hash():
        return False
    return any(libs.glob("kafka_2.13-*.jar")) and any(libs.glob("kafka-tools-*.jar"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fetch(libs_dir: Path | str = DEFAULT_LIBS_DIR, *, force: bool = False) -> Path:
    """Copy every runtime jar named by ``pom.xml`` into ``libs_dir`` (once).

    Skips Maven entirely when the directory's stamp matches the pom's hash.
    Maven fills a temporary sibling directory that is renamed into place only
    when complete, under a file lock, so concurrent callers and interrupted
    fetches never leave a half-filled ``libs_dir`` that looks usable.
    """
    libs = Path(libs_dir).resolve()
    if not force and jars_ready(libs):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(libs.parent / ".fetch.lock"):
        if not force and jars_ready(libs):
            return libs
        mvn = os.environ.get("MVN") or shutil.which("mvn")
        if not mvn:
            raise KafkaError(
                "Maven (mvn) is not on PATH: it is needed once to fetch the Kafka jars "
                f"from Maven Central into {libs} (or set REDFIRE_KAFKA_LIBS to a dir of jars)"
            )
        tmp = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
        cmd = [
            mvn, "-B", "-q", "-f", str(POM),
            "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                out = (proc.stdout + proc.stderr).strip().splitlines()
                raise KafkaError(
                    f"fetching Kafka jars failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
                    + "\n".join(out[-40:])
                )
            (tmp / STAMP_NAME).write_text(pom_hash() + "\n")
            if libs.exists():
                shutil.rmtree(libs)
            tmp.rename(libs)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return libs


def resolve_libs(libs_dir: Path | str | None = None) -> Path:
    """The jar dir to run from, fetching into it when needed.

    A dir given explicitly (or by ``REDFIRE_KAFKA_LIBS``) that already holds
    Kafka jars is used as it is, stamp or not; otherwise ``fetch`` fills it.
    """
    explicit = libs_dir is not None or bool(os.environ.get("REDFIRE_KAFKA_LIBS"))
    libs = Path(libs_dir if libs_dir is not None else DEFAULT_LIBS_DIR).resolve()
    if explicit and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    return fetch(libs)


# ------------------------------------------------------------------ small helpers


def java_binary() -> str:
    """``$JAVA``, else ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    if os.environ.get("JAVA"):
        return os.environ["JAVA"]
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaError("java is not on PATH (Kafka 4.x needs Java 17+): set JAVA or JAVA_HOME")
    return found


def new_cluster_id() -> str:
    """A Kafka ``Uuid`` as base64url without padding (what ``random-uuid`` prints)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka regenerates these too
            return text


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports the kernel says are free right now."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip().removeprefix("kafka://").removeprefix("PLAINTEXT://")
        host, _, port = item.rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def _raw_metadata_broker_count(host: str, port: int, timeout: float) -> int:
    """Brokers listed by a Metadata v4 request over a plain socket (stdlib only).

    v4 is the oldest Metadata version Kafka 4.x still serves (KIP-896).
    """
    client_id = b"redfire-probe"
    correlation_id = 7
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i?", -1, False)  # topics = null (all), no auto-create
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        payload = _recv_exact(sock, size)
    got_corr, _throttle, n_brokers = struct.unpack_from(">iii", payload, 0)
    if got_corr != correlation_id:
        raise KafkaError(f"metadata probe: correlation id {got_corr} != {correlation_id}")
    return int(n_brokers)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def _confluent_broker_count(bootstrap: str, timeout: float) -> int:
    import logging

    from confluent_kafka.admin import AdminClient  # type: ignore[import-not-found,unused-ignore]

    quiet = logging.getLogger("redfire.kafka.probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin: Any = AdminClient(
        {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000)},
        logger=quiet,
    )
    metadata = admin.list_topics(timeout=timeout)
    return len(metadata.brokers)


def probe(bootstrap: str, timeout: float = 2.0, *, use_confluent: bool | None = None) -> int:
    """Number of live brokers the cluster at ``bootstrap`` reports in its metadata.

    Uses confluent-kafka's AdminClient when importable (``use_confluent=None``),
    else a raw Metadata request. Raises ``OSError``/``KafkaError``/the client's
    exception when the broker does not answer.
    """
    if use_confluent is None:
        try:
            import confluent_kafka  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            use_confluent = False
        else:
            use_confluent = True
    if use_confluent:
        return _confluent_broker_count(bootstrap, timeout)
    last: Exception | None = None
    for host, port in _split_bootstrap(bootstrap):
        try:
            return _raw_metadata_broker_count(host, port, timeout)
        except (OSError, KafkaError, struct.error) as exc:
            last = exc
    raise KafkaError(f"no broker at {bootstrap} answered a metadata request: {last}")


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# ------------------------------------------------------------- secured listener


SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener (SCRAM-SHA-512 over TLS) next to the PLAINTEXT one.

    ``keystore`` is a PKCS12 file holding the broker's key and certificate (the
    caller makes it, e.g. with openssl or keytool); ``users`` are the SCRAM
    credentials written into the metadata log when the storage is formatted.
    Brokers still talk to each other (and the launcher probes them) over PLAINTEXT.
    """

    port: int
    keystore: Path
    keystore_password: str
    users: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def listener(self) -> str:
        return f",SASL_SSL://127.0.0.1:{self.port}"

    def properties(self) -> str:
        """Return the server.properties lines of this listener."""
        prefix = "listener.name.sasl_ssl"
        jaas = f"{SCRAM_LOGIN_MODULE} required;"
        return "\n".join(
            [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"{prefix}.sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"{prefix}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config={jaas}",
                f"{prefix}.ssl.keystore.type=PKCS12",
                f"{prefix}.ssl.keystore.location={self.keystore}",
                f"{prefix}.ssl.keystore.password={self.keystore_password}",
                f"{prefix}.ssl.key.password={self.keystore_password}",
            ]
        )

    def scram_arguments(self) -> list[str]:
        """Return the storage tool's ``--add-scram`` arguments for the users."""
        args = []
        for name, password in self.users.items():
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        return args


# -------------------------------------------------------------------- processes

_STARTED: list[KafkaProcess] = []


@dataclass
class KafkaProcess:
    """One combined broker+controller JVM and its node directory."""

    node_id: int
    port: int
    controller_port: int
    node_dir: Path
    libs_dir: Path
    cluster_size: int = 1
    heap: str = DEFAULT_HEAP
    jvm_opts: str = DEFAULT_JVM_OPTS
    log_level: str = "WARN"
    die_with_parent: bool = False
    sasl_ssl: SaslSslListener | None = None
    pid: int | None = None
    started_at: float | None = None
    ready_seconds: float | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    # -- paths and addresses
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.node_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.node_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.node_dir / "server.out"

    @property
    def pid_file(self) -> Path:
        return self.node_dir / PID_FILE

    def command(self) -> list[str]:
        """The java command line that runs this node."""
        return [
            java_binary(),
            *shlex.split(self.heap),
            *shlex.split(self.jvm_opts),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dkafka.log.level={self.log_level}",
            "-cp",
            f"{self.libs_dir}/*",
            KAFKA_MAIN,
            str(self.config_path),
        ]

    # -- lifecycle
    def is_alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return self.pid is not None and _pid_running(self.pid) and self._pid_is_ours(self.pid)

    def _pid_is_ours(self, pid: int) -> bool:
        cmdline = _pid_cmdline(pid)
        return KAFKA_MAIN in cmdline and str(self.config_path) in cmdline

    def _pdeathsig(self) -> bool:
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only
        # arm it from the main thread (a worker thread may end long before us).
        return (
            self.die_with_parent
            and sys.platform.startswith("linux")
            and threading.current_thread() is threading.main_thread()
        )

    def launch(self) -> None:
        """Start the JVM in its own session (detached) and write the pid file."""
        if self.is_alive():
            raise KafkaError(f"node {self.node_id} already running (pid {self.pid})")
        ports = [self.port, self.controller_port]
        if self.sasl_ssl is not None:
            ports.append(self.sasl_ssl.port)
        for port in ports:
            if not port_free(port):
                raise KafkaError(
                    f"port {port} on 127.0.0.1 is in use (another broker? "
                    "`python deploy/kafka/kafka.py status`)"
                )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.stdout_log.open("ab") as out:
            out.write(f"\n==== {time.strftime('%F %T')} {shlex.join(self.command())}\n".encode())
            out.flush()
            self._popen = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.node_dir,
                start_new_session=True,
                preexec_fn=_die_with_parent if self._pdeathsig() else None,
            )
        self.pid = self._popen.pid
        self.started_at = time.monotonic()
        self.ready_seconds = None
        self.pid_file.write_text(f"{self.pid}\n")
        if self not in _STARTED:
            _STARTED.append(self)

    def wait_ready(self, timeout: float = 90.0, expected_brokers: int | None = None) -> float:
        """Block until this node answers metadata listing ``expected_brokers``.

        Returns the seconds since launch. Raises ``KafkaError`` with the tail
        of the logs if the JVM dies or ``timeout`` passes first.
        """
        want = self.cluster_size if expected_brokers is None else expected_brokers
        deadline = time.monotonic() + timeout
        last = "no TCP connection yet"
        while True:
            if not self.is_alive():
                code = self._popen.poll() if self._popen is not None else None
                raise KafkaError(
                    f"Kafka node {self.node_id} (pid {self.pid}) exited (code {code}) "
                    f"before it was ready\n{self.log_tail()}"
                )
            if tcp_open("127.0.0.1", self.port):
                try:
                    count = probe(self.bootstrap, timeout=2.0)
                except Exception as exc:  # not ready yet: any client error
                    last = f"metadata request failed: {exc}"
                else:
                    if count >= want:
                        break
                    last = f"metadata lists {count} of {want} brokers"
            if time.monotonic() >= deadline:
                raise KafkaError(
                    f"Kafka node {self.node_id} on {self.bootstrap} not ready after "
                    f"{timeout:.0f}s ({last})\n{self.log_tail()}"
                )
            time.sleep(0.1)
        started = self.started_at if self.started_at is not None else time.monotonic()
        self.ready_seconds = time.monotonic() - started
        return self.ready_seconds

    def restart(self, timeout: float = 90.0) -> float:
        """Launch a stopped or killed node again (same data) and wait for it."""
        if self.is_alive():
            return 0.0
        self._reap()
        self.launch()
        return self.wait_ready(timeout)

    def _signal(self, sig: signal.Signals) -> None:
        if self.pid is not None and self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _reap(self, timeout: float = 0.0) -> bool:
        """Wait up to ``timeout`` for the process to end; True when it has."""
        deadline = time.monotonic() + timeout
        while True:
            if self._popen is not None:
                try:
                    self._popen.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    return False
                return True
            if not self.is_alive():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: a crash, for failover tests. The data stays for ``restart``."""
        self._signal(signal.SIGKILL)
        self._reap(10.0)
        self.pid_file.unlink(missing_ok=True)

    def terminate(self) -> None:
        """Send SIGTERM (controlled shutdown) without waiting."""
        self._signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; removes the pid file."""
        self.terminate()
        if not self._reap(timeout):
            self._signal(signal.SIGKILL)
            self._reap(10.0)
        self.pid_file.unlink(missing_ok=True)
        if self in _STARTED:
            _STARTED.remove(self)

    # -- diagnostics
    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_log, self.server_log):
            text = _tail(path, lines)
            if text.strip():
                parts.append(f"--- {path} (tail)\n{text}")
        return "\n".join(parts) or f"(no output in {self.node_dir})"

    def rss_bytes(self) -> int | None:
        """Resident memory of the JVM (VmRSS), or None when not running."""
        if self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None


# ------------------------------------------------------------------ deployments


def _render_config(
    node: KafkaProcess, voters: str, replication_factor: int, internal_min_isr: int
) -> None:
    data = node.node_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    text = Template(TEMPLATE.read_text()).substitute(
        node_id=node.node_id,
        port=node.port,
        controller_port=node.controller_port,
        quorum_voters=voters,
        log_dirs=data,
        replication_factor=replication_factor,
        internal_min_isr=internal_min_isr,
        session_timeout_ms=3000 if node.cluster_size > 1 else 9000,
        extra_listeners=node.sasl_ssl.listener() if node.sasl_ssl else "",
        extra_protocol_map=",SASL_SSL:SASL_SSL" if node.sasl_ssl else "",
        security_config=node.sasl_ssl.properties() if node.sasl_ssl else "",
    )
    node.config_path.write_text(text)


def _format_storage(nodes: Sequence[KafkaProcess], cluster_id: str) -> None:
    """Run the storage tool for every node (in parallel); idempotent."""
    procs: list[tuple[KafkaProcess, subprocess.Popen[str]]] = []
    for node in nodes:
        node.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            java_binary(),
            *shlex.split(TOOL_JVM_OPTS),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={node.log_dir}",
            "-cp", f"{node.libs_dir}/*",
            STORAGE_TOOL_MAIN, "format",
            "--config", str(node.config_path),
            "--cluster-id", cluster_id,
            "--ignore-formatted",
            *(node.sasl_ssl.scram_arguments() if node.sasl_ssl else []),
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=node.node_dir
        )
        procs.append((node, proc))
    failures = []
    for node, proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"node {node.node_id}: exit {proc.returncode}\n{out.strip()}")
    if failures:
        raise KafkaError("formatting Kafka storage failed:\n" + "\n".join(failures))


def _read_deployment(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / DEPLOYMENT_FILE
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _write_deployment(
    data_dir: Path, kind: str, cluster_id: str, nodes: Sequence[KafkaProcess]
) -> None:
    record = {
        "kind": kind,
        "cluster_id": cluster_id,
        "kafka_version": kafka_version(),
        "nodes": [
            {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
            for n in nodes
        ],
    }
    (data_dir / DEPLOYMENT_FILE).write_text(json.dumps(record, indent=2) + "\n")


def nodes_in(data_dir: Path | str) -> list[KafkaProcess]:
    """The nodes a deployment dir describes, with pids from their pid files."""
    root = Path(data_dir).resolve()
    record = _read_deployment(root)
    if record is None:
        return []
    nodes = []
    for spec in record["nodes"]:
        node = KafkaProcess(
            node_id=int(spec["node_id"]),
            port=int(spec["port"]),
            controller_port=int(spec["controller_port"]),
            node_dir=root / f"node-{spec['node_id']}",
            libs_dir=DEFAULT_LIBS_DIR,
            cluster_size=len(record["nodes"]),
        )
        with contextlib.suppress(OSError, ValueError):
            node.pid = int(node.pid_file.read_text().strip())
        nodes.append(node)
    return nodes


def _start(
    kind: str,
    specs: Sequence[tuple[int, int, int]],
    data_dir: Path | str,
    *,
    wipe: bool,
    timeout: float,
    heap: str | None,
    jvm_opts: str | None,
    libs_dir: Path | str | None,
    log_level: str | None,
    die_with_parent: bool,
    sasl_ssl: SaslSslListener | None = None,
) -> list[KafkaProcess]:
    root = Path(data_dir).resolve()
    running = [n for n in nodes_in(root) if n.is_alive()]
    if running:
        wanted = {(s[1], s[2]) for s in specs}
        have = {(n.port, n.controller_port) for n in running}
        current = _read_deployment(root) or {}
        if current.get("kind") == kind and wanted == have and len(running) == len(specs):
            for node in running:  # already up (e.g. a second `make kafka`)
                node.wait_ready(timeout)
            return running
        raise KafkaError(
            f"{root} already has running Kafka nodes on ports {sorted(have)}; "
            "stop them first (`python deploy/kafka/kafka.py stop --data-dir ...`)"
        )
    record = _read_deployment(root)
    if wipe or (record is not None and record.get("kind") != kind):
        if record is not None and record.get("kind") != kind and not wipe:
            raise KafkaError(
                f"{root} holds a {record.get('kind')} deployment, not a {kind}: "
                "pass wipe=True / --wipe or use another data dir"
            )
        shutil.rmtree(root, ignore_errors=True)
        record = None
    busy = [p for _, port, cport in specs for p in (port, cport) if not port_free(p)]
    if busy:
        raise KafkaError(
            f"port(s) {busy} on 127.0.0.1 in use (another broker? "
            "`python deploy/kafka/kafka.py status`); pick other ports"
        )
    root.mkdir(parents=True, exist_ok=True)
    if record is not None and len(record.get("nodes", [])) != len(specs):
        raise KafkaError(f"{root} was formatted for {len(record['nodes'])} nodes; wipe it first")
    cluster_id = str(record["cluster_id"]) if record else new_cluster_id()

    libs = resolve_libs(libs_dir)
    level = log_level or os.environ.get("REDFIRE_KAFKA_LOG_LEVEL", "WARN")
    nodes = [
        KafkaProcess(
            node_id=node_id,
            port=port,
            controller_port=cport,
            node_dir=root / f"node-{node_id}",
            libs_dir=libs,
            cluster_size=len(specs),
            heap=heap or os.environ.get("REDFIRE_KAFKA_HEAP") or DEFAULT_HEAP,
            jvm_opts=jvm_opts or os.environ.get("REDFIRE_KAFKA_JVM_OPTS") or DEFAULT_JVM_OPTS,
            log_level=level,
            die_with_parent=die_with_parent,
            sasl_ssl=sasl_ssl,
        )
        for node_id, port, cport in specs
    ]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    rf = 3 if len(nodes) >= 3 else 1
    internal_min_isr = 2 if rf == 3 else 1
    for node in nodes:
        node.node_dir.mkdir(parents=True, exist_ok=True)
        _render_config(node, voters, rf, internal_min_isr)
    _format_storage(nodes, cluster_id)
    _write_deployment(root, kind, cluster_id, nodes)
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready(timeout)
    except BaseException:
        stop(nodes, timeout=5.0)
        raise
    return nodes


def start_single(
    port: int = DEFAULT_PORT,
    data_dir: Path | str = DEFAULT_DATA_DIR,
    *,
    controller_port: int | None = None,
    wipe: bool = False,
    timeout: float = 90.0,
    heap: str | None = None,
    jvm_opts: str | None = None,
    libs_dir: Path | str | None = None,
    log_level: str | None = None,
    die_with_parent: bool = False,
    sasl_ssl: SaslSslListener | None = None,
) -> KafkaProcess:
    """Start one combined broker+controller on ``127.0.0.1:port``; return when ready.

    ``controller_port`` defaults to ``port + 1`` when free, else any free port.
    Existing data in ``data_dir`` is kept (``wipe=True`` deletes it first). If
    this data dir's broker is already running on these ports, it is returned.
    ``die_with_parent=True`` makes the JVM die with the calling process (tests).
    ``sasl_ssl`` adds a SASL_SSL listener with SCRAM users (see ``SaslSslListener``).
    """
    if controller_port is None:
        previous = [n for n in nodes_in(data_dir) if n.port == port]
        if previous:
            controller_port = previous[0].controller_port
        elif port_free(port + 1):
            controller_port = port + 1
        else:
            controller_port = free_ports(1)[0]
    (node,) = _start(
        "single",
        [(1, port, controller_port)],
        data_dir,
        wipe=wipe,
        timeout=timeout,
        heap=heap,
        jvm_opts=jvm_opts,
        libs_dir=libs_dir,
        log_level=log_level,
        die_with_parent=die_with_parent,
        sasl_ssl=sasl_ssl,
    )
    return node


def start_cluster(
    n: int = 3,
    base_port: int = DEFAULT_CLUSTER_BASE_PORT,
    data_dir: Path | str = DEFAULT_CLUSTER_DIR,
    *,
    ports: Sequence[int] | None = None,
    controller_ports: Sequence[int] | None = None,
    wipe: bool = False,
    timeout: float = 120.0,
    heap: str | None = None,
    jvm_opts: str | None = None,
    libs_dir: Path | str | None = None,
    log_level: str | None = None,
    die_with_parent: bool = False,
) -> list[KafkaProcess]:
    """Start ``n`` combined KRaft nodes (all voters); return when all are registered.

    Broker ports ``base_port + i``, controllers ``base_port + 100 + i`` unless
    ``ports`` / ``controller_ports`` are given. With ``n >= 3`` internal topics
    get replication factor 3 (transaction log min ISR 2).
    """
    broker_ports = list(ports) if ports is not None else [base_port + i for i in range(n)]
    ctrl_ports = (
        list(controller_ports)
        if controller_ports is not None
        else [p + CONTROLLER_PORT_OFFSET for p in broker_ports]
    )
    if len(broker_ports) != n or len(ctrl_ports) != n:
        raise ValueError(f"need {n} broker and controller ports")
    specs = [(i + 1, broker_ports[i], ctrl_ports[i]) for i in range(n)]
    return _start(
        "cluster",
        specs,
        data_dir,
        wipe=wipe,
        timeout=timeout,
        heap=heap,
        jvm_opts=jvm_opts,
        libs_dir=libs_dir,
        log_level=log_level,
        die_with_parent=die_with_parent,
    )


def bootstrap_of(nodes: Iterable[KafkaProcess]) -> str:
    """``host:port,...`` of the given nodes."""
    return ",".join(n.bootstrap for n in nodes)


def stop(
    target: KafkaProcess | Iterable[KafkaProcess] | None = None,
    *,
    data_dir: Path | str | None = None,
    timeout: float = 15.0,
) -> None:
    """Stop nodes: the given ones, those of ``data_dir``, or all started here.

    All get SIGTERM at once (so a cluster shuts down together), then SIGKILL
    whatever is still alive after ``timeout`` seconds.
    """
    nodes: list[KafkaProcess]
    if isinstance(target, KafkaProcess):
        nodes = [target]
    elif target is not None:
        nodes = list(target)
    elif data_dir is not None:
        nodes = nodes_in(data_dir)
    else:
        nodes = list(_STARTED)
    for node in nodes:
        node.terminate()
    deadline = time.monotonic() + timeout
    for node in nodes:
        node.stop(timeout=max(0.0, deadline - time.monotonic()))


def wipe(data_dir: Path | str) -> None:
    """Stop the deployment in ``data_dir`` and delete its data."""
    root = Path(data_dir).resolve()
    stop(data_dir=root)
    shutil.rmtree(root, ignore_errors=True)


# -------------------------------------------------------------------------- CLI


def _status_lines(data_dir: Path) -> list[str]:
    record = _read_deployment(data_dir)
    if record is None:
        return [f"{data_dir}: no deployment"]
    lines = [f"{data_dir}: {record['kind']} (Kafka {record.get('kafka_version')})"]
    for node in nodes_in(data_dir):
        alive = node.is_alive()
        answering = alive and tcp_open("127.0.0.1", node.port)
        rss = node.rss_bytes() if alive else None
        mem = f", rss {rss / 2**20:.0f} MiB" if rss else ""
        state = "answering" if answering else ("running" if alive else "stopped")
        pid = f"pid {node.pid}" if alive else "no pid"
        lines.append(f"  node {node.node_id} {node.bootstrap}: {state} ({pid}{mem})")
    return lines


def _cli_dirs(args: argparse.Namespace) -> list[Path]:
    if args.data_dir:
        return [Path(args.data_dir).resolve()]
    return [DEFAULT_DATA_DIR, DEFAULT_CLUSTER_DIR]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kafka.py", description="Test Kafka (KRaft) from Maven Central jars."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)

    p_fetch = sub.add_parser("fetch", help="download the jars into the cache (once)")
    p_fetch.add_argument("--force", action="store_true", help="fetch even if cached")
    p_fetch.add_argument("--libs-dir", default=str(DEFAULT_LIBS_DIR))

    def common(p: argparse.ArgumentParser, default_dir: Path | None) -> None:
        p.add_argument("--data-dir", default=str(default_dir) if default_dir else None)

    def launch_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--wipe", action="store_true", help="delete old data first")
        p.add_argument("--timeout", type=float, default=120.0)
        p.add_argument("--heap", default=None, help=f"JVM heap flags (default {DEFAULT_HEAP!r})")
        p.add_argument("--log-level", default=None, help="broker log level (default WARN)")

    p_start = sub.add_parser("start", help="start a single node; returns when ready")
    p_start.add_argument("--port", type=int, default=DEFAULT_PORT)
    p_start.add_argument("--controller-port", type=int, default=None)
    common(p_start, DEFAULT_DATA_DIR)
    launch_opts(p_start)

    p_cluster = sub.add_parser("start-cluster", help="start an n-node cluster")
    p_cluster.add_argument("--nodes", type=int, default=3)
    p_cluster.add_argument("--base-port", type=int, default=DEFAULT_CLUSTER_BASE_PORT)
    common(p_cluster, DEFAULT_CLUSTER_DIR)
    launch_opts(p_cluster)

    for name, help_text in (
        ("stop", "stop the nodes of a data dir (default: single and cluster)"),
        ("wipe", "stop and delete a data dir (default: single and cluster)"),
        ("status", "show nodes, pids, ports and memory"),
    ):
        common(sub.add_parser(name, help=help_text), None)

    args = parser.parse_args(argv)
    try:
        return _run_cli(args)
    except KafkaError as exc:
        print(f"kafka.py: {exc}", file=sys.stderr)
        return 1


def _run_cli(args: argparse.Namespace) -> int:
    say: Callable[[str], None] = print
    if args.cmd == "fetch":
        began = time.monotonic()
        cached = jars_ready(args.libs_dir) and not args.force
        libs = fetch(args.libs_dir, force=args.force)
        jars = len(list(libs.glob("*.jar")))
        how = "cached" if cached else f"fetched in {time.monotonic() - began:.1f}s"
        say(f"Kafka {kafka_version()}: {jars} jars in {libs} ({how})")
        return 0
    if args.cmd in ("start", "start-cluster"):
        began = time.monotonic()
        if args.cmd == "start":
            nodes = [
                start_single(
                    args.port,
                    args.data_dir,
                    controller_port=args.controller_port,
                    wipe=args.wipe,
                    timeout=args.timeout,
                    heap=args.heap,
                    log_level=args.log_level,
                )
            ]
        else:
            nodes = start_cluster(
                args.nodes,
                args.base_port,
                args.data_dir,
                wipe=args.wipe,
                timeout=args.timeout,
                heap=args.heap,
                log_level=args.log_level,
            )
        pids = ", ".join(str(n.pid) for n in nodes)
        say(
            f"Kafka {kafka_version()} ready on {bootstrap_of(nodes)} "
            f"(pid {pids}; {time.monotonic() - began:.1f}s)\n"
            f"  data+logs: {Path(args.data_dir).resolve()}\n"
            f"  stop:      python deploy/kafka/kafka.py stop --data-dir {args.data_dir}"
        )
        return 0
    dirs = _cli_dirs(args)
    if args.cmd == "stop":
        for data_dir in dirs:
            running = [n for n in nodes_in(data_dir) if n.is_alive()]
            stop(running)
            if running:
                say(f"stopped {len(running)} node(s) of {data_dir}")
        return 0
    if args.cmd == "wipe":
        for data_dir in dirs:
            wipe(data_dir)
            say(f"wiped {data_dir}")
        return 0
    if args.cmd == "status":
        for data_dir in dirs:
            say("\n".join(_status_lines(data_dir)))
        return 0
    raise AssertionError(args.cmd)


if __name__ == "__main__":
    sys.exit(main())
