"""The schedule-to-start every task got, as a Prometheus histogram per scaling group.

An observer of the controller's cycles: it adds each cycle's newly measured latencies
(:attr:`~workerplane.planning.achieved.LatencyWindow.latest`) to a running sketch per group,
and turns that into cumulative buckets when Prometheus scrapes. The sketch only grows, so the
histogram's counters never reset while the controller runs, even when workers are replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from workerplane.controller.cycle import CycleReport
from workerplane.controller.prometheus_cycles import GROUP_LABELS
from workerplane.scaling.latency import LatencySketch

NAME = "workerplane_task_schedule_to_start_seconds"
#: Bucket bounds (seconds): fine below a second, where the SLOs of warm groups sit, then the
#: range of cold starts and stats-cache delays.
BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0)


class ScheduleToStartHistogram(Collector):
    """A :class:`~workerplane.controller.interfaces.CycleObserver` and a Prometheus collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes come from the metrics server's thread
        self._groups: dict[tuple[str, ...], LatencySketch] = {}

    def on_cycle(self, report: CycleReport) -> None:
        latest = report.plan.state.latency.latest
        if not latest.count:
            return
        labels = (report.version_key, report.group_id)
        with self._lock:
            self._groups[labels] = self._groups.get(labels, LatencySketch()).merge(latest)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            NAME,
            "Schedule-to-start of each task (activity attempt), measured by the worker running it.",
            labels=list(GROUP_LABELS),
        )
        with self._lock:
            groups = list(self._groups.items())
        for labels, sketch in groups:
            counts = sketch.cumulative_counts(BOUNDS)
            buckets = [(f"{b:g}", float(n)) for b, n in zip(BOUNDS, counts, strict=True)]
            buckets.append(("+Inf", float(sketch.count)))
            family.add_metric(list(labels), buckets, sum_value=sketch.sum_s)
        yield family
