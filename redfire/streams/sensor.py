"""faust's Prometheus sensor (the ``faust_*`` series), at a cost per message that fits.

faust's ``PrometheusMonitor`` looks up three labelled series for every message
it sees (prometheus_client's ``labels()`` builds a key and takes a lock each
time): 8.7 µs a message on the bench machine, against 0.5 µs for faust's plain
``Monitor``, in a pipeline whose whole budget is about 100 µs an event. Here
each partition's series are looked up once and kept; the series, their names
and values are faust's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor, setup_prometheus_sensors
from faust.types import TP, AppT, Message


@dataclass(slots=True)
class _PartitionSeries:
    received: Any  # the topic's messages-received counter
    read_offset: Any  # the partition's last offset read
    end_offset: Any  # the partition's end offset (for lag)


class PartitionCachedMonitor(PrometheusMonitor):
    """faust's Prometheus sensor with each partition's labelled series found once."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        self._series: dict[TP, _PartitionSeries] = {}

    def series(self, tp: TP) -> _PartitionSeries:
        found = self._series.get(tp)
        if found is None:
            metrics = self._metrics
            found = self._series[tp] = _PartitionSeries(
                metrics.messages_received_per_topics.labels(topic=tp.topic),
                metrics.messages_received_per_topics_partition.labels(
                    topic=tp.topic, partition=tp.partition
                ),
                metrics.topic_partition_end_offset.labels(topic=tp.topic, partition=tp.partition),
            )
        return found

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        metrics = self._metrics
        metrics.messages_received.inc()
        metrics.active_messages.inc()
        series = self.series(tp)
        series.received.inc()
        series.read_offset.set(offset)

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        Monitor.track_tp_end_offset(self, tp, offset)
        self.series(tp).end_offset.set(offset)


def install_sensor(app: AppT) -> None:
    """Serve faust's ``faust_*`` series on /metrics through the cached sensor."""
    setup_prometheus_sensors(app, name_prefix="faust")
    prometheus = app.monitor
    assert isinstance(prometheus, PrometheusMonitor)
    app.monitor = PartitionCachedMonitor(metrics=prometheus._metrics)
