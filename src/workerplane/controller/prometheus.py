"""Prometheus metrics of a workerplane process: one gauge family per figure, labelled per scaling
group, next to the cycle counters and histograms (:mod:`workerplane.controller.prometheus_cycles`)
in one registry per process (:class:`ProcessMetrics`).

The gauges are read from the controllers' latest :class:`GroupStatus` lists at scrape time, so
they never disagree with ``workerplane status`` and there is no second copy of the state to keep
in step. ``workerplane run --metrics-port 9090`` serves them (the Kubernetes manifests name that
port ``metrics`` for a ServiceMonitor); ``workerplane serve`` at ``/metrics`` on its API port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from workerplane.controller.interfaces import CycleObserver
from workerplane.controller.latency_histogram import ScheduleToStartHistogram
from workerplane.controller.prometheus_cycles import CycleMetrics
from workerplane.planning.status import GroupStatus

LABELS = ("version", "group", "provider", "scaler")


@dataclass(frozen=True)
class _Gauge:
    name: str
    documentation: str
    value: Callable[[GroupStatus], float | int | None]


GAUGES: tuple[_Gauge, ...] = (
    _Gauge("workerplane_group_workers", "Workers that exist.", lambda s: s.workers_running),
    _Gauge(
        "workerplane_group_workers_ready", "Workers confirmed polling.", lambda s: s.workers_ready
    ),
    _Gauge(
        "workerplane_group_desired_workers",
        "The size the provider was last asked to hold.",
        lambda s: s.desired,
    ),
    _Gauge("workerplane_group_tasks_in_flight", "Tasks executing now.", lambda s: s.in_flight),
    _Gauge(
        "workerplane_group_backlog_tasks",
        "Tasks waiting for a poller (approximate_backlog_count).",
        lambda s: s.backlog,
    ),
    _Gauge(
        "workerplane_group_backlog_age_seconds",
        "How long the oldest waiting task has waited.",
        lambda s: s.backlog_age_s,
    ),
    _Gauge(
        "workerplane_group_task_add_rate",
        "Tasks added per second, as the Temporal server reports it.",
        lambda s: s.add_rate,
    ),
    _Gauge(
        "workerplane_group_task_dispatch_rate",
        "Tasks dispatched per second, as the Temporal server reports it.",
        lambda s: s.dispatch_rate,
    ),
    _Gauge(
        "workerplane_group_pollers", "Pollers the server has seen recently.", lambda s: s.pollers
    ),
    _Gauge(
        "workerplane_group_unmanaged_pollers",
        "Pollers of the group's queues that workerplane did not start (docs/unmanaged-pollers.md).",
        lambda s: s.unmanaged_pollers,
    ),
    _Gauge(
        "workerplane_group_metrics_ok",
        "1 if the last cycle read the task-queue stats, 0 if it held on missing metrics.",
        lambda s: int(s.metrics_ok),
    ),
    _Gauge(
        "workerplane_group_provider_error",
        "1 if the provider's last call failed or its configuration is invalid.",
        lambda s: int(bool(s.last_error or s.provider_validation_error)),
    ),
    _Gauge(
        "workerplane_group_status_timestamp_seconds",
        "When this status was taken (epoch seconds).",
        lambda s: s.updated_at,
    ),
)


class StatusCollector(Collector):
    """Turns the controller's statuses into gauges when Prometheus scrapes."""

    def __init__(self, statuses: Callable[[], Sequence[GroupStatus]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        families = {
            g.name: GaugeMetricFamily(g.name, g.documentation, labels=list(LABELS)) for g in GAUGES
        }
        for status in self._statuses():
            labels = [status.version_key, status.group_id, status.provider_type, status.scaler_type]
            for gauge in GAUGES:
                value = gauge.value(status)
                if value is not None:  # unknown (e.g. no census of in-flight tasks): no sample
                    families[gauge.name].add_metric(labels, float(value))
        yield from families.values()


StatusSource = Callable[[], Sequence[GroupStatus]]


class ProcessMetrics:
    """The process's one registry: the gauges of every controller it tracks and the counters of
    their cycles.

    ``serve`` runs a controller only while it holds the lease, and ``up`` runs two (the demo's
    and the API's): each registers its ``Controller.statuses`` with :meth:`track` and passes
    :attr:`cycles` as an observer, and one scrape shows them all.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._sources: list[StatusSource] = []
        self._lock = threading.Lock()  # scrapes come from the HTTP server's thread
        self.registry.register(StatusCollector(self._statuses))
        self.cycles = CycleMetrics(self.registry)
        self.schedule_to_start = ScheduleToStartHistogram()
        self.registry.register(self.schedule_to_start)

    @property
    def observers(self) -> tuple[CycleObserver, ...]:
        """The cycle observers that keep this registry's counters and histograms."""
        return (self.cycles, self.schedule_to_start)

    def track(self, statuses: StatusSource) -> Callable[[], None]:
        """Export the gauges of ``statuses`` (a controller's); returns the call that stops it."""
        with self._lock:
            self._sources.append(statuses)

        def untrack() -> None:
            with self._lock:
                if statuses in self._sources:
                    self._sources.remove(statuses)

        return untrack

    def _statuses(self) -> list[GroupStatus]:
        with self._lock:
            sources = list(self._sources)
        return [status for source in sources for status in source()]

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def serve(self, port: int, address: str = "127.0.0.1") -> WSGIServer:
        """Serve ``/metrics`` on ``address:port`` from a background thread; returns the server
        (``shutdown()`` stops it)."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server


__all__ = ["GAUGES", "LABELS", "ProcessMetrics", "StatusCollector", "StatusSource"]
