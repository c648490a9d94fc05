# RedFire — the two commands a newcomer needs are `make demo` and `make test`.
#
#   make setup   venv (.venv) with RedFire and its test/dev tools
#   make demo    embedded Tansu broker + worker + seeded feed; prints decisions
#                (SECONDS=60 by default; Ctrl-C stops it; nothing is left running)
#   make test    setup + Kafka jars + promtool + Prometheus + chromium + kcat + the whole suite
#   make unit    unit tests only (no broker)
#   make lint    ruff + mypy --strict on redfire/
#   make kafka   Apache Kafka (KRaft) from Maven Central jars on 127.0.0.1:9092
#   make bench   benchmarks in bench/ (results go to bench/results.md)

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
SECONDS ?= 60
STAMP   := $(VENV)/.installed

.PHONY: setup demo test unit integration lint bench clean promtool prometheus chromium kcat

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: setup
	$(PY) -m redfire demo --seconds $(SECONDS)

promtool:
	bash deploy/install-promtool.sh || echo "promtool unavailable: its test will say so"

# Debian's headless Chromium for the live page's browser test (driven over DevTools).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The README's kcat examples are run by tests/integration/test_defaults.py.
kcat:
	command -v kcat >/dev/null || (apt-get update -qq && apt-get install -y -qq kcat) \
		|| echo "kcat unavailable: its test will say so"

prometheus:
	bash deploy/install-prometheus.sh || echo "prometheus unavailable: its live test will say so"

test: setup kafka-jars promtool prometheus chromium kcat
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

integration: setup kafka-jars chromium kcat
	$(PY) -m pytest -q -p no:cacheprovider -m "integration or reliability" tests

lint: setup
	$(VENV)/bin/ruff check redfire tests bench
	$(VENV)/bin/mypy redfire

bench: setup kafka-jars
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .cache var .mypy_cache .ruff_cache

include deploy/kafka/kafka.mk
