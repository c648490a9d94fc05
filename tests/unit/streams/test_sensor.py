"""The cached faust sensor reports the same faust_* series as faust's own."""

from __future__ import annotations

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from redfire.streams.sensor import PartitionCachedMonitor


class Message:
    time_in: float | None = None
    time_out: float | None = None
    time_total: float | None = None


def feed(monitor: PrometheusMonitor) -> None:
    for tp, offsets in ((TP("orders", 1), range(5)), (TP("ticks", 0), range(3))):
        for offset in offsets:
            message = Message()
            monitor.on_message_in(tp, offset, message)  # type: ignore[arg-type]
            monitor.track_tp_end_offset(tp, offset + 10)
            if offset % 2 == 0:
                monitor.on_message_out(tp, offset, message)  # type: ignore[arg-type]


def faust_series(
    registry: CollectorRegistry,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name.startswith("faust_") and not sample.name.endswith("_created")
    }


def test_the_cached_sensor_reports_what_fausts_own_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    feed(PrometheusMonitor(metrics=FaustMetrics.create(theirs, "faust")))
    feed(PartitionCachedMonitor(metrics=FaustMetrics.create(ours, "faust")))
    expected = faust_series(theirs)
    assert expected[("faust_messages_received_total", ())] == 8
    assert (
        expected[("faust_topic_partition_end_offset", (("partition", "1"), ("topic", "orders")))]
        == 14
    )
    assert faust_series(ours) == expected
