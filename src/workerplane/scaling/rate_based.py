"""Temporal's ``rate-based`` scaling algorithm (worker-set strategy only).

A faithful port of ``ProcessMetricsPoll`` in temporalio/temporal-auto-scaled-workers
(``wci/workflow/scaling_algorithm/rate_based.go``). Per metrics poll:

1. Sum backlog, arrival rate (``tasks_add_rate``) and dispatch rate over the group's queue types,
   dropping any type whose sample is negative or not finite.
2. Update ``EWMA(arrival)`` and ``EWMA(dispatch)`` with ``ewma_alpha`` (the first sample seeds the
   average). A fully idle sample (backlog, arrival and dispatch all 0) snaps both to 0.
3. Per-worker capacity: only when ``backlog >= material_backlog_threshold`` (the workers are then
   capacity-bound, not starved), with a planned count > 0 and dispatch > 0, the sample
   ``dispatch / planned_count`` is folded into ``EWMA(capacity)``, which starts at
   ``initial_per_consumer_capacity``.
4. ``required = EWMA(arrival) + (target_backlog_drain_rate if backlog > 0 else 0)``;
   ``load = required / EWMA(capacity)``;
   ``desired = clamp(max(ceil(load / utilization_target), ceil(load + beta * sqrt(load))),
   min_count, max_count)``.
5. Up: at least ``scale_up_cooldown_ms`` after the last scale-up, add
   ``min(max_scale_up_step, desired - current, max_count - current)``.
   Down: at least ``no_sync_quiet_ms`` after the last no-sync-match signal AND
   ``scale_down_cooldown_ms`` after the last scale-down, remove exactly one (never below min).

The "current" count is the algorithm's own planned count (``initial_count`` until the first
change), exactly as in Temporal: it is not reconciled with what the provider reports.

Differences forced by workerplane's poll-only design (see docs/scalers.md):

* Temporal's no-sync-match signal (a task added while no poller was waiting) comes from the
  matching service. workerplane has no such hook, so an observation with ``backlog > 0`` counts as
  that signal: tasks are waiting, so recent adds found no poller. It blocks scale-down for
  ``no_sync_quiet_ms`` exactly as the signal does.
* Temporal's task-add path (+1 worker per no-sync-match, subject to the scale-up cooldown) is
  offered as :meth:`RateBasedScaler.task_added` but is not driven by the controller.
* ``metrics=None`` (unreadable) holds. Temporal would still evaluate with its stale EWMAs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import model_validator

from workerplane.scaling._fields import ScalerDetails, rule_error, temporal_float, temporal_int
from workerplane.scaling.no_sync import queues_of, to_ms
from workerplane.scaling.types import Decision, GroupMetrics, Hold, SetSize, Strategy


class RateBasedDetails(ScalerDetails):
    """``scaler.details`` for ``type: rate-based``. Keys, defaults and bounds are Temporal's."""

    algorithm_name = "rate-based"

    min_count: Annotated[int, temporal_int(0, int32=True)] = 0
    max_count: Annotated[int, temporal_int(1, int32=True)] = 30
    initial_count: Annotated[int, temporal_int(0, int32=True)] = 0
    metrics_poll_interval_ms: Annotated[int, temporal_int(30_000)] = 60_000
    ewma_alpha: Annotated[float, temporal_float(0)] = 0.45
    initial_per_consumer_capacity: Annotated[float, temporal_float(0)] = 2.0
    target_backlog_drain_rate: Annotated[float, temporal_float(0)] = 2.0
    material_backlog_threshold: Annotated[int, temporal_int(1)] = 50
    utilization_target: Annotated[float, temporal_float(0)] = 0.8
    halfin_whitt_beta: Annotated[float, temporal_float(0)] = 0.5
    max_scale_up_step: Annotated[int, temporal_int(1, int32=True)] = 4
    scale_up_cooldown_ms: Annotated[int, temporal_int(0)] = 2_000
    scale_down_cooldown_ms: Annotated[int, temporal_int(0)] = 60_000
    no_sync_quiet_ms: Annotated[int, temporal_int(0)] = 90_000

    @model_validator(mode="after")
    def _cross_field_rules(self) -> RateBasedDetails:
        # Same rules, same order and same messages as Temporal's ValidateConfig.
        if self.min_count > self.max_count:
            raise rule_error(
                f"min_count ({self.min_count}) must not exceed max_count ({self.max_count})"
            )
        if not self.min_count <= self.initial_count <= self.max_count:
            raise rule_error(
                f"initial_count ({self.initial_count}) must be between min_count "
                f"({self.min_count}) and max_count ({self.max_count})"
            )
        if not 0 < self.ewma_alpha <= 1:
            raise rule_error(f"ewma_alpha ({self.ewma_alpha:g}) must be a finite number in (0, 1]")
        if not self.initial_per_consumer_capacity > 0:
            raise rule_error(
                f"initial_per_consumer_capacity ({self.initial_per_consumer_capacity:g}) "
                "must be a positive finite number"
            )
        if not 0 < self.utilization_target <= 1:
            raise rule_error(
                f"utilization_target ({self.utilization_target:g}) must be a finite number "
                "in (0, 1]"
            )
        poll = self.metrics_poll_interval_ms
        if self.scale_up_cooldown_ms > 0 and poll < self.scale_up_cooldown_ms:
            raise rule_error(
                f"metrics_poll_interval_ms ({poll}) must be >= scale_up_cooldown_ms "
                f"({self.scale_up_cooldown_ms}), otherwise the scale-up cooldown blocks every poll"
            )
        if self.scale_down_cooldown_ms > 0 and poll < self.scale_down_cooldown_ms:
            raise rule_error(
                f"metrics_poll_interval_ms ({poll}) must be >= scale_down_cooldown_ms "
                f"({self.scale_down_cooldown_ms}), otherwise the scale-down cooldown blocks "
                "every poll"
            )
        return self


@dataclass(frozen=True)
class RateBasedState:
    """Temporal's seven state slots. ``None`` = unset (Temporal's missing key / timestamp 0).

    Attributes:
        worker_count: the planned worker count; ``None`` means ``initial_count``.
        ewma_arrival_rate: EWMA of the summed ``tasks_add_rate``.
        ewma_dispatch_rate: EWMA of the summed ``tasks_dispatch_rate``.
        ewma_per_consumer_capacity: EWMA of tasks/s one worker dispatches; ``None`` means
            ``initial_per_consumer_capacity``.
        last_scale_up_ms, last_scale_down_ms: when the count last went up / down.
        last_no_sync_match_ms: when tasks were last seen waiting (the no-sync-match proxy).
    """

    worker_count: int | None = None
    ewma_arrival_rate: float | None = None
    ewma_dispatch_rate: float | None = None
    ewma_per_consumer_capacity: float | None = None
    last_scale_up_ms: int | None = None
    last_scale_down_ms: int | None = None
    last_no_sync_match_ms: int | None = None


@dataclass(frozen=True)
class Sizing:
    """The intermediate figures of one desired-count computation (for reasons and tests)."""

    required_rate: float
    offered_load: float
    utilization_desired: int
    halfin_whitt_desired: int
    desired: int


def _elapsed(now_ms: int, since: int | None) -> float:
    return math.inf if since is None else float(now_ms - since)


def _fmt_elapsed(elapsed: float) -> str:
    return "never" if math.isinf(elapsed) else f"{int(elapsed)}ms ago"


class RateBasedScaler:
    """Temporal's ``rate-based`` algorithm: EWMA rates, square-root staffing, worker-set only."""

    strategy: Strategy

    def __init__(self, details: RateBasedDetails, strategy: Strategy = Strategy.WORKER_SET) -> None:
        if strategy is not Strategy.WORKER_SET:
            raise ValueError("scaling algorithm 'rate-based' only supports the worker-set strategy")
        self.details = details
        self.strategy = strategy

    @property
    def poll_interval_s(self) -> float:
        return self.details.metrics_poll_interval_ms / 1000.0

    def initial_state(self, now: float) -> RateBasedState:
        return RateBasedState()

    def planned_count(self, state: RateBasedState) -> int:
        """The count the algorithm believes it holds (``initial_count`` before any change)."""
        return self.details.initial_count if state.worker_count is None else state.worker_count

    def capacity(self, state: RateBasedState) -> float:
        """Estimated tasks/s per worker."""
        c = state.ewma_per_consumer_capacity
        if c is not None and math.isfinite(c) and c > 0:
            return c
        return self.details.initial_per_consumer_capacity

    def sizing(self, state: RateBasedState, backlog: int) -> Sizing:
        """``computeRateBasedDesiredCapacity``: the desired count from the state's estimates."""
        d = self.details
        catch_up = d.target_backlog_drain_rate if backlog > 0 else 0.0
        required = (state.ewma_arrival_rate or 0.0) + catch_up
        load = required / self.capacity(state) if required > 0 else 0.0
        util = hw = 0
        if load > 0:
            util = math.ceil(load / d.utilization_target)
            hw = math.ceil(load + d.halfin_whitt_beta * math.sqrt(load))
        raw = min(max(util, hw, 0), d.max_count)
        desired = min(max(raw, d.min_count), d.max_count)
        return Sizing(required, load, util, hw, desired)

    def decide(
        self, state: RateBasedState, metrics: GroupMetrics | None, now: float
    ) -> tuple[RateBasedState, Decision]:
        if metrics is None:
            return state, Hold(
                reason=f"metrics unavailable: holding at {self.planned_count(state)} workers"
            )
        d = self.details
        alpha = d.ewma_alpha

        # 1. Aggregate the valid per-type samples (Temporal drops non-finite / negative ones).
        backlog = 0
        arrival = dispatch = 0.0
        has_data = False
        dropped: list[str] = []
        for name, q in queues_of(metrics):
            a, r, b = q.add_rate, q.dispatch_rate, q.backlog_count
            if not (math.isfinite(a) and math.isfinite(r)) or a < 0 or r < 0 or b < 0:
                dropped.append(name.lower())
                continue
            has_data = True
            backlog += b
            arrival += a
            dispatch += r
        count = self.planned_count(state)
        if not has_data:
            return state, Hold(
                reason=f"no valid metrics (dropped: {', '.join(dropped) or 'none'}): "
                f"holding at {count} workers"
            )

        # 2. EWMAs of arrival and dispatch; a fully idle sample snaps them to zero.
        def ewma(previous: float | None, sample: float) -> float:
            return sample if previous is None else alpha * sample + (1 - alpha) * previous

        s = replace(
            state,
            worker_count=count,
            ewma_arrival_rate=ewma(state.ewma_arrival_rate, arrival),
            ewma_dispatch_rate=ewma(state.ewma_dispatch_rate, dispatch),
        )
        if backlog == 0 and arrival == 0 and dispatch == 0:
            s = replace(s, ewma_arrival_rate=0.0, ewma_dispatch_rate=0.0)

        # 3. Per-worker capacity, sampled only while the backlog is material.
        capacity_note = "not sampled: backlog below material threshold"
        if backlog >= d.material_backlog_threshold:
            if count <= 0:
                capacity_note = "not sampled: planned count 0"
            elif dispatch <= 0:
                capacity_note = "not sampled: dispatch rate 0"
            else:
                observed = dispatch / count
                if math.isfinite(observed) and observed > 0:
                    s = replace(
                        s,
                        ewma_per_consumer_capacity=alpha * observed
                        + (1 - alpha) * self.capacity(s),
                    )
                    capacity_note = f"sampled {observed:.3g}/s/worker"

        now_ms = to_ms(now)
        # Waiting tasks stand in for Temporal's no-sync-match signal (see module docstring).
        if backlog > 0:
            s = replace(s, last_no_sync_match_ms=now_ms)

        # 4. Desired count.
        z = self.sizing(s, backlog)
        inputs = (
            f"backlog={backlog} arrival={arrival:g}/s dispatch={dispatch:g}/s "
            f"ewma_arrival={s.ewma_arrival_rate or 0.0:.3g}/s "
            f"capacity={self.capacity(s):.3g}/s/worker, {capacity_note} -> "
            f"required {z.required_rate:.3g}/s, load {z.offered_load:.3g}, "
            f"desired {z.desired} (utilization {z.utilization_desired}, "
            f"halfin-whitt {z.halfin_whitt_desired}, clamped to [{d.min_count}, {d.max_count}])"
        )

        # 5. Step towards it, with cooldowns.
        since_up = _elapsed(now_ms, s.last_scale_up_ms)
        since_down = _elapsed(now_ms, s.last_scale_down_ms)
        since_no_sync = _elapsed(now_ms, s.last_no_sync_match_ms)
        if z.desired > count:
            if since_up < d.scale_up_cooldown_ms:
                why = (
                    f"scale-up cooldown (last scale-up {_fmt_elapsed(since_up)} "
                    f"< {d.scale_up_cooldown_ms}ms)"
                )
                return s, Hold(reason=f"{inputs}; current {count}: {why}")
            add = min(d.max_scale_up_step, z.desired - count, d.max_count - count)
            if add <= 0:
                return s, Hold(reason=f"{inputs}; current {count}: at max_count")
            new = count + add
            step = f", step limited to {d.max_scale_up_step}" if add < z.desired - count else ""
            s = replace(s, worker_count=new, last_scale_up_ms=now_ms)
            return s, SetSize(size=new, reason=f"{inputs}; current {count} -> {new}{step}")
        if z.desired < count:
            if since_no_sync < d.no_sync_quiet_ms:
                why = (
                    f"tasks waiting {_fmt_elapsed(since_no_sync)} "
                    f"(no-sync quiet {d.no_sync_quiet_ms}ms)"
                )
                return s, Hold(reason=f"{inputs}; current {count}: scale-down blocked, {why}")
            if since_down < d.scale_down_cooldown_ms:
                why = (
                    f"scale-down cooldown (last scale-down {_fmt_elapsed(since_down)} "
                    f"< {d.scale_down_cooldown_ms}ms)"
                )
                return s, Hold(reason=f"{inputs}; current {count}: {why}")
            new = max(d.min_count, count - 1)
            if new == count:
                return s, Hold(reason=f"{inputs}; current {count}: at min_count")
            s = replace(s, worker_count=new, last_scale_down_ms=now_ms)
            return s, SetSize(size=new, reason=f"{inputs}; current {count} -> {new} (down by 1)")
        return s, Hold(reason=f"{inputs}; current {count}: already at desired")

    def task_added(
        self, state: RateBasedState, now: float, *, sync_match: bool, no_sync_since_last: int = 0
    ) -> tuple[RateBasedState, Decision]:
        """Temporal's ``ProcessTaskAdd``: a no-sync-match task add adds one worker.

        Pure like :meth:`decide`. Not driven by the controller (no matching-service signal).
        """
        count = self.planned_count(state)
        s = replace(state, worker_count=count)
        if sync_match and no_sync_since_last == 0:
            return s, Hold(reason="task was sync-matched to a waiting poller")
        now_ms = to_ms(now)
        # Bumped before the gates, so even a throttled add keeps scale-down blocked.
        s = replace(s, last_no_sync_match_ms=now_ms)
        if count >= self.details.max_count:
            return s, Hold(reason=f"no-sync-match task add: at max_count {count}")
        since_up = _elapsed(now_ms, s.last_scale_up_ms)
        if since_up < self.details.scale_up_cooldown_ms:
            return s, Hold(reason=f"no-sync-match task add: in scale-up cooldown ({since_up}ms)")
        s = replace(s, worker_count=count + 1, last_scale_up_ms=now_ms)
        return s, SetSize(size=count + 1, reason=f"no-sync-match task add: {count} -> {count + 1}")
