"""Shared fixtures: a real Kafka broker (plugin) and real RedFire workers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from tests.support.worker import RedFireWorker

if TYPE_CHECKING:
    from tests.plugins.kafka_broker import KafkaNamespace

pytest_plugins = ["tests.plugins.kafka_broker"]

WorkerFactory = Callable[..., RedFireWorker]

# Property tests draw the same examples on every run: a CI run is reproducible, and a case
# worth keeping becomes an explicit test (`HYPOTHESIS_PROFILE=explore` searches afresh).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def redfire_worker(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Return a factory of started workers in this test's namespace; all stop at the end."""
    workers: list[RedFireWorker] = []

    def make(partitions: int = 2, start: bool = True, **env: str) -> RedFireWorker:
        worker = RedFireWorker(
            bootstrap=kafka_bootstrap,
            app_id=kafka_namespace.app_id,
            topic_prefix=kafka_namespace.topic_prefix,
            datadir=tmp_path / f"data-{len(workers)}",
            partitions=partitions,
            extra_env=env,
        )
        workers.append(worker)
        worker.create_topics()
        if start:
            worker.start()
        return worker

    yield make
    for worker in workers:
        worker.stop()
