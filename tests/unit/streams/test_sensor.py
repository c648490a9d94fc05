"""The counting faust sensor serves the same faust_* series as faust's own."""

from __future__ import annotations

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from redfire.streams.sensor import install_sensor

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


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


def faust_series(registry: CollectorRegistry) -> Series:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name.startswith("faust_") and not sample.name.endswith("_created")
    }


def test_the_counting_sensor_serves_what_fausts_own_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    feed(PrometheusMonitor(metrics=FaustMetrics.create(theirs, "faust")))
    app = faust.App("sensor-test", autodiscover=False)
    feed(install_sensor(app, registry=ours))
    expected = faust_series(theirs)
    assert expected[("faust_messages_received_total", ())] == 8
    assert expected[("faust_active_messages", ())] == 3
    end_offset = ("faust_topic_partition_end_offset", (("partition", "1"), ("topic", "orders")))
    assert expected[end_offset] == 14
    assert faust_series(ours) == expected
