#!/usr/bin/env bash
# Install promtool (Prometheus' config checker and rule unit-test runner), idempotently.
#
# `make test` calls this before the suite: tests/integration/test_deploy_assets.py runs
# `promtool check config` and `promtool test rules` on deploy/prometheus/.
#
# On Debian/Ubuntu promtool ships in the `prometheus` package. Inside a container (no
# systemd) installing it starts nothing.
# Anywhere else (macOS, other distros) install Prometheus from https://prometheus.io/download/
# and put promtool on PATH; this script then only reports the version it found.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    echo "promtool already installed: $(promtool --version 2>&1 | head -n 1)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool is not on PATH and apt-get is not available:" >&2
    echo "install Prometheus (https://prometheus.io/download/) and put promtool on PATH" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "installing promtool with apt-get needs root (or sudo)" >&2
        exit 1
    fi
fi

apt_get() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@"
}

# Refresh the package lists only when the candidate is unknown (a fresh image has none), or
# when installing from the present lists fails (stale lists point at removed versions).
if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt_get update
fi
# Installs the prometheus server too (Debian ships no promtool-only package); on a machine
# with systemd its service is enabled, which this script does not want: it is stopped below.
if ! apt_get install -y --no-install-recommends prometheus >/dev/null; then
    apt_get update
    apt_get install -y --no-install-recommends prometheus >/dev/null
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || { echo "promtool still not on PATH" >&2; exit 1; }
echo "promtool installed: $(promtool --version 2>&1 | head -n 1)"
