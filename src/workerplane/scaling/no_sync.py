"""Temporal's ``no-sync`` scaling algorithm (invoke strategy only).

A faithful port of ``ProcessMetricsPoll`` in temporalio/temporal-auto-scaled-workers
(``wci/workflow/scaling_algorithm/no_sync_match.go``), driven through workerplane's pure
:class:`~workerplane.scaling.base.Scaler` protocol. Per metrics poll, for each task-queue type the
group serves (workflow, activity, nexus):

* **backlog trigger**: ``backlog > scale_up_backlog_threshold`` (strictly greater) and at least
  ``scale_up_cooloff_ms`` since the last scale-up;
* **lifetime refresh**: otherwise, if ``max_worker_lifetime_ms > 0``, ``backlog > 0`` and at least
  ``max_worker_lifetime_ms`` since the last scale-up (a fresh worker replaces one that is about to
  reach its lifetime; this fires even inside the cooloff);
* **dispatch-rate suppression**: a triggered queue is skipped when ``scale_up_dispatch_rate_epsilon
  > 0`` and its dispatch rate moved by at most epsilon since the previous poll (the previous rate is
  unknown on the first poll, so nothing is suppressed then).

If any queue type triggers, exactly ONE worker is started, however large the backlog, and the
scale-up time is recorded (one shared timer for all queue types). There is no "no pollers" trigger
and no upper bound: invoke workers leave by themselves.

Temporal also runs ``ProcessTaskAdd`` when the matching service signals a task that found no
waiting poller ("no sync match"): one invoke, subject to the same cooloff. workerplane has no
matching-service hook, so the controller never calls it; it is offered as :meth:`NoSyncScaler.
task_added` for completeness and for the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import model_validator

from workerplane.scaling._fields import ScalerDetails, rule_error, temporal_float, temporal_int
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    StartWorkers,
    Strategy,
)

#: Temporal's per-type state keys are lower-case queue type names, in this order.
_QUEUE_TYPES = ("WORKFLOW", "ACTIVITY", "NEXUS")


class NoSyncDetails(ScalerDetails):
    """``scaler.details`` for ``type: no-sync``. Keys, defaults and bounds are Temporal's."""

    algorithm_name = "no-sync"

    scale_up_cooloff_ms: Annotated[int, temporal_int(0)] = 100
    """Minimum time between two scale-ups (shared by all queue types). 0 disables the cooloff."""

    scale_up_backlog_threshold: Annotated[int, temporal_int(0)] = 0
    """A poll starts a worker when a queue's backlog is strictly greater than this."""

    max_worker_lifetime_ms: Annotated[int, temporal_int(0)] = 600_000
    """With backlog > 0, start a fresh worker once this long has passed since the last scale-up,
    even inside the cooloff. 0 disables the refresh."""

    scale_up_dispatch_rate_epsilon: Annotated[float, temporal_float(0)] = 0.0
    """Skip a triggered scale-up when the queue's dispatch rate moved by at most this since the
    previous poll. 0 disables the suppression."""

    metrics_poll_interval_ms: Annotated[int, temporal_int(10_000)] = 60_000
    """How often metrics are polled (at least 10000 ms, and at least the cooloff)."""

    @model_validator(mode="after")
    def _poll_interval_covers_cooloff(self) -> NoSyncDetails:
        # Temporal: with a poll interval below the cooloff, metric-driven scale-ups never fire.
        # A cooloff of 0 means "disabled", so the rule does not apply then.
        if (
            self.scale_up_cooloff_ms > 0
            and self.metrics_poll_interval_ms < self.scale_up_cooloff_ms
        ):
            raise rule_error(
                f"metrics_poll_interval_ms ({self.metrics_poll_interval_ms}) must be >= "
                f"scale_up_cooloff_ms ({self.scale_up_cooloff_ms}), otherwise metric-driven "
                "scale-ups will never fire"
            )
        return self


@dataclass(frozen=True)
class NoSyncState:
    """What ``no-sync`` remembers between polls (Temporal's two state slots).

    Attributes:
        last_scale_up_ms: when a worker was last started, in ms of the scaler clock; ``None`` means
            never (Temporal stores 0 = the Unix epoch, which has the same effect: no cooloff).
        last_dispatch_rate: the dispatch rate per queue type seen at the previous poll.
    """

    last_scale_up_ms: int | None = None
    last_dispatch_rate: tuple[tuple[str, float], ...] = ()

    def previous_rate(self, queue_type: str) -> float | None:
        for name, rate in self.last_dispatch_rate:
            if name == queue_type:
                return rate
        return None


def to_ms(now: float) -> int:
    """Seconds (float) to whole milliseconds, as Temporal keeps its timestamps.

    Working in integer ms avoids float artefacts such as ``(0.3 - 0.2) * 1000 < 100``.
    """
    return round(now * 1000)


def queues_of(metrics: GroupMetrics) -> list[tuple[str, QueueStats]]:
    """The per-type stats in Temporal's order, or the summed stats when no split is given."""
    if not metrics.by_type:
        return [("ALL", metrics.stats)]
    known = [(t, metrics.by_type[t]) for t in _QUEUE_TYPES if t in metrics.by_type]
    others = sorted((t, s) for t, s in metrics.by_type.items() if t not in _QUEUE_TYPES)
    return known + others


class NoSyncScaler:
    """Temporal's ``no-sync`` algorithm: one worker per trigger, invoke strategy only."""

    strategy: Strategy

    def __init__(self, details: NoSyncDetails, strategy: Strategy = Strategy.INVOKE) -> None:
        if strategy is not Strategy.INVOKE:
            raise ValueError("scaling algorithm 'no-sync' only supports the invoke strategy")
        self.details = details
        self.strategy = strategy

    @property
    def poll_interval_s(self) -> float:
        return self.details.metrics_poll_interval_ms / 1000.0

    def initial_state(self, now: float) -> NoSyncState:
        return NoSyncState()

    def decide(
        self, state: NoSyncState, metrics: GroupMetrics | None, now: float
    ) -> tuple[NoSyncState, Decision]:
        if metrics is None:
            return state, Hold(reason="metrics unavailable: holding (no-sync starts nothing)")
        d = self.details
        now_ms = to_ms(now)
        elapsed_ms = math.inf if state.last_scale_up_ms is None else now_ms - state.last_scale_up_ms
        elapsed_txt = "never" if math.isinf(elapsed_ms) else f"{int(elapsed_ms)}ms ago"

        rates: list[tuple[str, float]] = []
        triggered: list[str] = []
        notes: list[str] = []
        for name, q in queues_of(metrics):
            backlog = q.backlog_count
            rate = q.dispatch_rate
            previous = state.previous_rate(name)
            fired = ""
            if backlog > d.scale_up_backlog_threshold and elapsed_ms >= d.scale_up_cooloff_ms:
                fired = f"backlog {backlog} > threshold {d.scale_up_backlog_threshold}"
            elif (
                d.max_worker_lifetime_ms > 0
                and backlog > 0
                and elapsed_ms >= d.max_worker_lifetime_ms
            ):
                fired = (
                    f"backlog {backlog} > 0 and last scale-up >= lifetime "
                    f"{d.max_worker_lifetime_ms}ms (worker refresh)"
                )
            label = f"{name.lower()}: backlog={backlog} dispatch={rate:g}/s"
            if (
                fired
                and d.scale_up_dispatch_rate_epsilon > 0
                and previous is not None
                and abs(rate - previous) <= d.scale_up_dispatch_rate_epsilon
            ):
                notes.append(
                    f"{label}: {fired}, suppressed: dispatch rate within "
                    f"{d.scale_up_dispatch_rate_epsilon:g}/s of previous {previous:g}/s"
                )
            elif fired:
                triggered.append(f"{label}: {fired}")
            else:
                notes.append(label)
            rates.append((name, rate))

        new_state = replace(state, last_dispatch_rate=tuple(rates))
        if triggered:
            new_state = replace(new_state, last_scale_up_ms=now_ms)
            reason = (
                f"{'; '.join(triggered)} (last scale-up {elapsed_txt}, "
                f"cooloff {d.scale_up_cooloff_ms}ms) -> start 1 worker"
            )
            return new_state, StartWorkers(count=1, reason=reason)
        cooling = not math.isinf(elapsed_ms) and elapsed_ms < d.scale_up_cooloff_ms
        suffix = f"; in cooloff (last scale-up {elapsed_txt})" if cooling else ""
        return new_state, Hold(reason=f"{'; '.join(notes)} -> no trigger{suffix}")

    def task_added(
        self, state: NoSyncState, now: float, *, sync_match: bool, no_sync_since_last: int = 0
    ) -> tuple[NoSyncState, Decision]:
        """Temporal's ``ProcessTaskAdd``: a task that found no waiting poller starts one worker.

        Pure like :meth:`decide`. Not driven by the controller (no matching-service signal).
        """
        if sync_match and no_sync_since_last == 0:
            return state, Hold(reason="task was sync-matched to a waiting poller")
        now_ms = to_ms(now)
        if state.last_scale_up_ms is not None:
            elapsed = now_ms - state.last_scale_up_ms
            if elapsed < self.details.scale_up_cooloff_ms:
                return state, Hold(
                    reason=f"no-sync-match task add throttled: last scale-up {elapsed}ms ago "
                    f"< cooloff {self.details.scale_up_cooloff_ms}ms"
                )
        return replace(state, last_scale_up_ms=now_ms), StartWorkers(
            count=1, reason="no-sync-match task add -> start 1 worker"
        )
