"""Prometheus counters and histograms of what the controller's cycles did: decisions by kind,
workers started and retired, provider calls and errors, stats reads, cycle durations and the wait
from a decision to start workers until they poll.

:class:`CycleMetrics` is a :class:`~workerplane.controller.interfaces.CycleObserver`: it counts
from the :class:`~workerplane.controller.cycle.CycleReport` each cycle hands it, so the counters
need no hook in the cycle. The gauges (what each group looks like now) are
:mod:`workerplane.controller.prometheus`'s.

Labels: counters carry ``version`` and ``group`` (one series per group, as the gauges); the
histograms only ``provider``, to keep their many bucket series few on a large fleet.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from workerplane.controller.cycle import CycleReport
from workerplane.controller.cycle_facts import (
    decision_kind,
    provider_call,
    retired_workers,
    started_workers,
)
from workerplane.controller.polling_latency import PollingLatency

GROUP_LABELS = ("version", "group")

#: Seconds: a cycle is mostly two or three RPCs and a provider call.
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds: a local process polls in about a second, a pod or a task in tens of seconds.
POLLING_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class CycleMetrics:
    """Counts every cycle report into Prometheus metrics registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry, polling: PollingLatency | None = None) -> None:
        self._polling = polling or PollingLatency()
        self.decisions = Counter(
            "workerplane_decisions",
            "Decisions made, by kind (scale_up, scale_down, invoke, reconcile, hold).",
            [*GROUP_LABELS, "kind"],
            registry=registry,
        )
        self.workers_started = Counter(
            "workerplane_workers_started",
            "Workers the controller started (provider calls that succeeded).",
            [*GROUP_LABELS, "provider"],
            registry=registry,
        )
        self.workers_retired = Counter(
            "workerplane_workers_retired",
            "Workers the controller retired (provider calls that succeeded).",
            [*GROUP_LABELS, "provider"],
            registry=registry,
        )
        self.provider_calls = Counter(
            "workerplane_provider_calls",
            "Provider calls made (invoke, set_size), failed ones included.",
            [*GROUP_LABELS, "provider", "call"],
            registry=registry,
        )
        self.provider_errors = Counter(
            "workerplane_provider_errors",
            "Provider calls that failed, by the provider's error kind "
            "(throttled, access_denied, not_found, invalid, internal; unexpected: not a "
            "provider error).",
            [*GROUP_LABELS, "provider", "kind"],
            registry=registry,
        )
        self.stats_reads = Counter(
            "workerplane_stats_reads",
            "Task-queue stats reads (one a cycle).",
            GROUP_LABELS,
            registry=registry,
        )
        self.stats_read_failures = Counter(
            "workerplane_stats_read_failures",
            "Task-queue stats reads that failed (the group then holds its size).",
            GROUP_LABELS,
            registry=registry,
        )
        self.fresh_signal_reads = Counter(
            "workerplane_fresh_signal_reads",
            "Cycles that also read the uncached backlog hint (an idle group with no poller).",
            GROUP_LABELS,
            registry=registry,
        )
        self.cycle_duration = Histogram(
            "workerplane_cycle_duration_seconds",
            "How long a group's cycle took: observe, plan and the provider call.",
            ["provider"],
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.time_to_polling = Histogram(
            "workerplane_time_to_polling_seconds",
            "From the cycle that decided to start a worker to the first cycle that saw it "
            "polling (resolution: the poll interval; providers that report readiness only).",
            ["provider"],
            buckets=POLLING_BUCKETS,
            registry=registry,
        )
        self.never_polled = Counter(
            "workerplane_worker_starts_never_polled",
            "Started workers given up on: not seen polling within 15 minutes.",
            ["provider"],
            registry=registry,
        )

    def on_cycle(self, report: CycleReport) -> None:
        """Count one cycle (the :class:`CycleObserver` hook)."""
        group = (report.version_key, report.group_id)
        provider = report.status.provider_type
        self.decisions.labels(*group, decision_kind(report)).inc()
        started, retired = started_workers(report), retired_workers(report)
        if started:
            self.workers_started.labels(*group, provider).inc(started)
        if retired:
            self.workers_retired.labels(*group, provider).inc(retired)
        call = provider_call(report)
        if call is not None:
            self.provider_calls.labels(*group, provider, call).inc()
        if report.failure is not None:
            kind = report.failure.kind or "unexpected"
            self.provider_errors.labels(*group, provider, kind).inc()
        observation = report.observation
        self.stats_reads.labels(*group).inc()
        if observation.metrics is None:
            self.stats_read_failures.labels(*group).inc()
        if observation.fresh_backlog:
            self.fresh_signal_reads.labels(*group).inc()
        self.cycle_duration.labels(provider).observe(report.duration_s)
        given_up = self._polling.given_up
        for wait in self._polling.observe(report):
            self.time_to_polling.labels(provider).observe(wait)
        if self._polling.given_up > given_up:
            self.never_polled.labels(provider).inc(self._polling.given_up - given_up)
