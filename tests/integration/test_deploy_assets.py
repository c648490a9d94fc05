"""The deployment and observability assets in deploy/ are valid and match the code.

* Prometheus: ``promtool check config`` / ``check rules`` and the rule unit tests
  (``promtool test rules deploy/prometheus/alerts_test.yml``); the dashboard's PromQL parses.
  Skipped only when promtool is not on PATH (``deploy/install-promtool.sh`` installs it).
* Metric names: every series used by the alert rules and the Grafana dashboard is one that
  RedFire (redfire/metrics.py) or faust's Prometheus sensor exposes, with the suffixes the
  exposition adds (counters ``_total``, histograms ``_bucket``/``_sum``/``_count``), and every
  label it selects or groups by exists on that metric.
* Kubernetes and Compose YAML: well-formed documents with the structure the runbook relies on
  (the worker command, probes on /health:6066, a data volume per worker, settings that exist).

No Kafka is needed: these tests read files and run promtool.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from faust.sensors.prometheus import FaustMetrics
from prometheus_client.metrics import MetricWrapperBase

import redfire.metrics
from redfire.risk.limits import parse_limits_yaml
from redfire.risk.rules import parse_rules_yaml
from redfire.risk.stress import parse_scenarios_yaml
from redfire.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "redfire.json"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "docker-compose.yml"

WEB_PORT = 6066
WORKER_COMMAND = ["faust", "-A", "redfire", "worker"]
# Labels Prometheus attaches to every scraped series, and the bucket label of histograms.
TARGET_LABELS = {"job", "instance", "app_id"}


# --- metric catalogue --------------------------------------------------------------------------


def exposed_series(metric: MetricWrapperBase) -> dict[str, set[str]]:
    """Return the series names one prometheus_client metric exposes, with their labels."""
    described = next(iter(metric.describe()))
    labels = set(getattr(metric, "_labelnames", ()))
    name, kind = described.name, described.type
    if kind == "counter":
        return {f"{name}_total": labels, f"{name}_created": labels}
    if kind == "histogram":
        return {
            f"{name}_bucket": labels | {"le"},
            f"{name}_sum": labels,
            f"{name}_count": labels,
            f"{name}_created": labels,
        }
    if kind == "summary":
        return {f"{name}_sum": labels, f"{name}_count": labels, name: labels | {"quantile"}}
    return {name: labels}


def catalogue(metrics: Iterator[Any]) -> dict[str, set[str]]:
    series: dict[str, set[str]] = {}
    for metric in metrics:
        if isinstance(metric, MetricWrapperBase):
            series.update(exposed_series(metric))
    return series


REDFIRE_SERIES = catalogue(iter(vars(redfire.metrics).values()))
# The same constructor faust's setup_prometheus_sensors(app, name_prefix="faust") calls,
# on a private registry so that it cannot clash with an app built by another test.
FAUST_SERIES = catalogue(iter(FaustMetrics.create(prometheus_client.CollectorRegistry(), "faust")))
KNOWN_SERIES = {**REDFIRE_SERIES, **FAUST_SERIES, "up": set()}


# --- a small PromQL reader: enough to find series and label names ------------------------------

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
SELECTOR = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
CLAUSES = ("by", "without", "on", "ignoring", "group_left", "group_right")
GROUPING = re.compile(rf"\b({'|'.join(CLAUSES)})\s*\(([^)]*)\)", re.IGNORECASE)
IDENTIFIER = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()")
# Words that look like series names but are PromQL keywords (and the atan2 operator).
KEYWORDS = frozenset((*CLAUSES, "offset", "bool", "and", "or", "unless", "atan2", "inf", "nan"))


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's variables with values Prometheus accepts."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
    )


def series_in(expr: str) -> set[str]:
    """Return the series names an expression reads (not functions, keywords or labels)."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = GROUPING.sub(" ", text)
    return {name for name in IDENTIFIER.findall(text) if name.lower() not in KEYWORDS}


def matcher_labels(expr: str) -> list[tuple[str, set[str]]]:
    """Return (series, label names in its {matchers}) for every selector with matchers."""
    text = STRING.sub('""', expr)
    return [(name, set(MATCHER_LABEL.findall(body))) for name, body in SELECTOR.findall(text)]


def grouping_labels(expr: str) -> set[str]:
    """Return the label names of every by/without/on/ignoring/group_x clause."""
    labels: set[str] = set()
    for _, body in GROUPING.findall(STRING.sub('""', expr)):
        labels |= {label.strip() for label in body.split(",") if label.strip()}
    return labels


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return board


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_exprs() -> list[tuple[str, str]]:
    """Return (panel title, expr) for every query of the dashboard."""
    return [
        (panel.get("title", "?"), target["expr"])
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def all_exprs() -> list[tuple[str, str]]:
    alerts = [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    panels_ = [(f"panel {title!r}", grafana_to_promql(e)) for title, e in dashboard_exprs()]
    return alerts + panels_


def test_the_promql_reader_finds_series_and_labels() -> None:
    expr = (
        'sum by (instance, le) (rate(redfire_decision_latency_seconds_bucket{job="x", '
        'instance=~"a|b"}[5m])) / on (instance) group_left up offset 5m and bool 1e3'
    )
    assert series_in(expr) == {"redfire_decision_latency_seconds_bucket", "up"}
    assert matcher_labels(expr) == [
        ("redfire_decision_latency_seconds_bucket", {"job", "instance"})
    ]
    assert grouping_labels(expr) == {"instance", "le"}


# --- 1. promtool -------------------------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not on PATH: run deploy/install-promtool.sh to install it")
    return subprocess.run(
        [exe, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"


def test_prometheus_config_is_valid() -> None:
    # rule_files in prometheus.yml are relative to the file: alerts.yml next to it.
    result = promtool("check", "config", "deploy/prometheus/prometheus.yml")
    assert_ok(result)
    assert "1 rule files found" in result.stdout


def test_alert_rules_are_valid() -> None:
    assert_ok(promtool("check", "rules", "deploy/prometheus/alerts.yml"))


def test_alert_rule_unit_tests_pass() -> None:
    assert_ok(promtool("test", "rules", "deploy/prometheus/alerts_test.yml"))


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses recording rules without a server: one rule per dashboard query.
    rules = [
        {"record": f"dashboard:query_{index}", "expr": grafana_to_promql(expr)}
        for index, (_, expr) in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert_ok(promtool("check", "rules", str(path)))


# --- 2. metric names ---------------------------------------------------------------------------


def test_redfire_metrics_are_catalogued() -> None:
    # Guards the catalogue itself: the suffix rules produced the names we expose.
    assert "redfire_decisions_total" in REDFIRE_SERIES
    assert "redfire_decision_latency_seconds_bucket" in REDFIRE_SERIES
    assert REDFIRE_SERIES["redfire_var"] == {"account", "confidence"}
    assert "faust_messages_received_total" in FAUST_SERIES
    assert "faust_consumer_commit_latency_bucket" in FAUST_SERIES


@pytest.mark.parametrize(("where", "expr"), all_exprs(), ids=lambda value: str(value)[:60])
def test_queries_use_exposed_series_and_labels(where: str, expr: str) -> None:
    series = series_in(expr)
    assert series, f"{where}: no series found in {expr!r}"
    unknown = series - KNOWN_SERIES.keys()
    assert not unknown, (
        f"{where} reads {sorted(unknown)}, which neither redfire/metrics.py nor faust's "
        "Prometheus sensor exposes (counters end in _total; histograms in _bucket/_sum/_count)"
    )
    for name, labels in matcher_labels(expr):
        missing = labels - KNOWN_SERIES[name] - TARGET_LABELS - {"__name__"}
        assert not missing, f"{where}: {name} has no label(s) {sorted(missing)}"
    available = set().union(*(KNOWN_SERIES[name] for name in series)) | TARGET_LABELS
    missing = grouping_labels(expr) - available
    assert not missing, f"{where}: groups by {sorted(missing)}, labels no series in it has"


def test_dashboard_shows_every_redfire_metric() -> None:
    used = set().union(*(series_in(grafana_to_promql(e)) for _, e in dashboard_exprs()))
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in REDFIRE_SERIES}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families - shown == set(), "redfire metrics without a dashboard panel"


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    ids = [panel["id"] for panel in panels(board["panels"])]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(board["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['title']!r} is wider than the grid"


# --- 3. Kubernetes and Compose YAML ------------------------------------------------------------


def k8s_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_resources() -> dict[tuple[str, str], dict[str, Any]]:
    """Return the resources kustomization.yaml applies, by (kind, name)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in k8s_documents(K8S / name):
            resources[(doc["kind"], doc["metadata"]["name"])] = doc
    return resources


def worker_container() -> dict[str, Any]:
    statefulset = k8s_resources()[("StatefulSet", "redfire")]
    containers: list[dict[str, Any]] = statefulset["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "redfire"]
    return container


def runs_worker(command: list[str]) -> bool:
    width = len(WORKER_COMMAND)
    return any(command[i : i + width] == WORKER_COMMAND for i in range(len(command)))


def redfire_setting(env_name: str) -> bool:
    return env_name.removeprefix("REDFIRE_").lower() in Settings.model_fields


def test_every_k8s_document_is_a_named_resource() -> None:
    files = sorted(K8S.glob("*.yaml"))
    assert files
    for path in files:
        if path.name == "kustomization.yaml":
            continue
        docs = k8s_documents(path)
        assert docs, f"{path.name} is empty"
        for doc in docs:
            assert doc.get("apiVersion"), f"{path.name}: a document without apiVersion"
            assert doc.get("kind"), f"{path.name}: a document without kind"
            assert doc.get("metadata", {}).get("name"), f"{path.name}: a {doc['kind']} unnamed"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {
        p.name
        for p in K8S.glob("*.yaml")
        if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml")
    }
    assert listed == present
    kinds = {kind for kind, _ in k8s_resources()}
    assert {"StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert "Secret" not in kinds, "secrets are created out of band, not applied from git"


def test_statefulset_runs_the_worker_with_probes_on_health() -> None:
    container = worker_container()
    assert runs_worker(container["command"] + container.get("args", []))
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["http"] == WEB_PORT
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/health", probe
        assert ports.get(get["port"], get["port"]) == WEB_PORT, probe
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_statefulset_keeps_rocksdb_on_a_volume_per_pod() -> None:
    statefulset = k8s_resources()[("StatefulSet", "redfire")]
    container = worker_container()
    env = {item["name"]: item for item in container["env"]}
    datadir = env["REDFIRE_DATADIR"]["value"]
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[datadir] in claims
    assert env["REDFIRE_WEB_HOST"]["value"] == "0.0.0.0"
    assert env["REDFIRE_WEB_PORT"]["value"] == str(WEB_PORT)
    # The name other workers forward account routes to: this pod under the headless service.
    assert statefulset["spec"]["serviceName"] in env["WEB_HOST"]["value"]


def test_statefulset_reads_secrets_and_config_that_exist() -> None:
    resources = k8s_resources()
    container = worker_container()
    env = {item["name"]: item for item in container["env"]}
    for name in ("REDFIRE_ADMIN_TOKEN", "REDFIRE_KAFKA_SASL_PASSWORD"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "redfire-secrets"
    example = {doc["metadata"]["name"]: doc for doc in k8s_documents(K8S / "secret.example.yaml")}
    secret_keys = set(example["redfire-secrets"]["stringData"])
    assert {
        env[n]["valueFrom"]["secretKeyRef"]["key"]
        for n in env
        if "valueFrom" in env[n] and "secretKeyRef" in env[n]["valueFrom"]
    } <= secret_keys
    for source in container["envFrom"]:
        assert ("ConfigMap", source["configMapRef"]["name"]) in resources
    pod = resources[("StatefulSet", "redfire")]["spec"]["template"]["spec"]
    for volume in pod["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in resources
    # Every REDFIRE_* variable is a setting RedFire reads.
    env_map = resources[("ConfigMap", "redfire-env")]["data"]
    names = set(env_map) | {n for n in env if n.startswith("REDFIRE_")}
    unknown = {n for n in names if not redfire_setting(n)}
    assert not unknown, f"not RedFire settings: {sorted(unknown)}"
    # The files the settings point at are keys of the mounted ConfigMap.
    files = resources[("ConfigMap", "redfire-config")]["data"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["config"]
    for setting in ("REDFIRE_LIMITS_FILE", "REDFIRE_RULES_FILE", "REDFIRE_SCENARIOS_FILE"):
        directory, _, key = env_map[setting].rpartition("/")
        assert directory == mount and key in files, setting


def test_configmap_files_parse_as_redfire_config() -> None:
    files = k8s_resources()[("ConfigMap", "redfire-config")]["data"]
    assert parse_limits_yaml(files["limits.yaml"]).default is not None
    assert parse_rules_yaml(files["rules.yaml"])
    assert parse_scenarios_yaml(files["scenarios.yaml"])


def test_services_and_budget_select_the_workers() -> None:
    resources = k8s_resources()
    statefulset = resources[("StatefulSet", "redfire")]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    headless = resources[("Service", statefulset["spec"]["serviceName"])]
    assert headless["spec"]["clusterIP"] == "None"
    for (kind, name), doc in resources.items():
        if kind == "Service":
            assert doc["spec"]["selector"].items() <= pod_labels.items(), name
            assert [p["port"] for p in doc["spec"]["ports"]] == [WEB_PORT], name
    budget = resources[("PodDisruptionBudget", "redfire")]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def test_compose_runs_kafka_two_workers_prometheus_and_grafana() -> None:
    services = compose()["services"]
    assert {"kafka", "redfire-1", "redfire-2", "prometheus", "grafana"} <= services.keys()
    assert services["kafka"]["image"].split(":-")[-1].startswith("apache/kafka:4")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    workers = {name: s for name, s in services.items() if name.startswith("redfire-")}
    host_ports = []
    for name, worker in workers.items():
        assert runs_worker(worker["command"]), name
        env = worker["environment"]
        assert env["REDFIRE_BROKER"] == "kafka://kafka:9092", name
        assert env["REDFIRE_PARTITIONS"] == "4", name
        unknown = {n for n in env if n.startswith("REDFIRE_") and not redfire_setting(n)}
        assert not unknown, f"{name}: not RedFire settings: {sorted(unknown)}"
        volumes = {v.split(":")[1]: v.split(":")[0] for v in worker["volumes"]}
        assert env["REDFIRE_DATADIR"] in volumes, f"{name}: datadir is not on a volume"
        host_port, container_port = worker["ports"][0].split(":")
        assert int(container_port) == WEB_PORT
        host_ports.append(host_port)
        for setting in ("REDFIRE_LIMITS_FILE", "REDFIRE_RULES_FILE", "REDFIRE_SCENARIOS_FILE"):
            directory, _, file = env[setting].rpartition("/")
            assert (DEPLOY / volumes[directory] / file).is_file(), f"{name}: {setting}"
    assert len(set(host_ports)) == len(host_ports), "workers share a host port"
    datadirs = [w["volumes"][0].split(":")[0] for w in workers.values()]
    assert len(set(datadirs)) == len(datadirs), "workers share a data volume"


def test_compose_mounts_exist_and_prometheus_scrapes_the_workers() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "redfire"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    workers = {name for name in services if name.startswith("redfire-")}
    assert targets == {f"{name}:{WEB_PORT}" for name in workers}
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_provisioning_matches_compose() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "redfire.yml").read_text())
    (provider,) = providers["providers"]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_dockerfile_runs_the_worker_unprivileged_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert any(
        line.startswith("FROM python:3.11-slim") or "python:3.11-slim" in line
        for line in instructions
    )
    assert f"EXPOSE {WEB_PORT}" in instructions
    (user,) = [line for line in instructions if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in instructions)
    assert "/health" in text
    (cmd,) = [line for line in instructions if line.startswith("CMD ")]
    assert runs_worker(json.loads(cmd.removeprefix("CMD ")))
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var", ".cache", "tests"} <= set(ignored)
