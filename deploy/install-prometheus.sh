#!/usr/bin/env bash
# Install the Prometheus server (Debian's `prometheus` package), idempotently.
#
# `make test` calls this before the suite: tests/integration/test_prometheus_live.py starts
# a real Prometheus with deploy/prometheus/ scraping a worker. The same package brings
# promtool (deploy/install-promtool.sh). Inside a container (no systemd) installing it starts
# nothing; on a machine with systemd the service it enables is stopped and disabled again.
# Anywhere else install Prometheus from https://prometheus.io/download/ and put it on PATH.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
    echo "prometheus already installed: $(prometheus --version 2>&1 | head -n 1)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus is not on PATH and apt-get is not available:" >&2
    echo "install Prometheus (https://prometheus.io/download/) and put it on PATH" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "installing prometheus with apt-get needs root (or sudo)" >&2
        exit 1
    fi
fi

apt_get() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@"
}

# Refresh the package lists only when the candidate is unknown or the install fails
# (stale lists point at removed versions).
if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt_get update
fi
if ! apt_get install -y --no-install-recommends prometheus >/dev/null; then
    apt_get update
    apt_get install -y --no-install-recommends prometheus >/dev/null
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

command -v prometheus >/dev/null 2>&1 || { echo "prometheus still not on PATH" >&2; exit 1; }
echo "prometheus installed: $(prometheus --version 2>&1 | head -n 1)"
