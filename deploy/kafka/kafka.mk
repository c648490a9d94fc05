# Test Kafka from the Maven Central jars (deploy/kafka/kafka.py). Included by
# the top-level Makefile, which defines PY (e.g. PY = .venv/bin/python; the
# launcher is stdlib-only, so any python3 works).
#
#   make kafka-jars      fetch the jars into .cache/kafka/libs (once; cached)
#   make kafka           single broker+controller on 127.0.0.1:9092, returns when ready
#   make kafka-cluster   3 nodes on 127.0.0.1:19092-19094 (controllers 19192-19194)
#   make kafka-status    nodes, pids, memory
#   make kafka-stop      stop both (data kept; `make kafka-wipe` deletes it)
#
# Override ports/dirs on the command line: make kafka KAFKA_PORT=9192

PY ?= python3
KAFKA_LAUNCHER      ?= deploy/kafka/kafka.py
KAFKA_PORT          ?= 9092
KAFKA_DATA_DIR      ?= .cache/kafka/data
KAFKA_CLUSTER_PORT  ?= 19092
KAFKA_CLUSTER_NODES ?= 3
KAFKA_CLUSTER_DIR   ?= .cache/kafka/cluster

.PHONY: kafka-jars kafka kafka-cluster kafka-stop kafka-status kafka-wipe

kafka-jars:
	$(PY) $(KAFKA_LAUNCHER) fetch

kafka: kafka-jars
	$(PY) $(KAFKA_LAUNCHER) start --port $(KAFKA_PORT) --data-dir $(KAFKA_DATA_DIR)

kafka-cluster: kafka-jars
	$(PY) $(KAFKA_LAUNCHER) start-cluster --nodes $(KAFKA_CLUSTER_NODES) \
		--base-port $(KAFKA_CLUSTER_PORT) --data-dir $(KAFKA_CLUSTER_DIR)

kafka-status:
	$(PY) $(KAFKA_LAUNCHER) status --data-dir $(KAFKA_DATA_DIR)
	$(PY) $(KAFKA_LAUNCHER) status --data-dir $(KAFKA_CLUSTER_DIR)

kafka-stop:
	$(PY) $(KAFKA_LAUNCHER) stop --data-dir $(KAFKA_DATA_DIR)
	$(PY) $(KAFKA_LAUNCHER) stop --data-dir $(KAFKA_CLUSTER_DIR)

kafka-wipe:
	$(PY) $(KAFKA_LAUNCHER) wipe --data-dir $(KAFKA_DATA_DIR)
	$(PY) $(KAFKA_LAUNCHER) wipe --data-dir $(KAFKA_CLUSTER_DIR)
