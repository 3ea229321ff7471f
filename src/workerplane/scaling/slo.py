"""workerplane's SLO-driven scaler ``slo``: meet a p95 schedule-to-start target at the lowest cost.

The user sets the SLO (``schedule_to_start_slo_ms``) and ``min_count``/``max_count``; everything
else is learned from what the controller observes:

* **slots per worker** (``k``): ``target_per_worker`` if set, else what the workers report in the
  census, else the most tasks per ready worker ever seen in flight;
* **mean task duration** (``d``): what the workers report (``WorkerCensus.mean_task_s``, the run
  time of their finished tasks) once more tasks have finished than are running, else Little's law
  on steady stretches, ``in_flight / dispatch_rate`` (a real server's rates rise within a second
  of a burst while the 30 s running average lags, so that estimate starts far too low);
* **worker startup** (``s``): from a scale-up until half its workers poll;
* **arrival rate** (``lambda``): between two fresh stats replies, arrivals = more waiting + more in
  flight + completed (the census's running total ``tasks_completed`` when the provider keeps one,
  else estimated from the busy slots), smoothed over ``ARRIVAL_TAU_S``;
* **waiting tasks** (``B``): the backlog of a fresh stats reply; between fresh replies (the server
  caches stats for seconds) zero if a slot is free, else carried forward by
  ``lambda - in_flight / d``.

Each observation plans the size by projecting the FIFO queue over ``H = poll interval + s``, the
time a worker asked for at the next observation would take to help. For a size ``n`` (ready
workers serve from now, starting ones once started, new ones after ``s``):

    left(n) = max(0, B + lambda*H - slots served by n over H / d)
    wait(n) = left(n) * d / (max(n, m) * k)        m = floor(lambda*d / k) + 1

``wait(n)`` is when the newest task would start once capacity that drains the queue (``m``
workers) is there; the size is the smallest ``n`` with ``wait(n) <= target_wait_fraction * SLO``.
A size below ``m`` is allowed while the queue can hold the overflow: this duty-cycles the
fractional worker (1.5 workers of load alternate 1 and 2 workers), as the clairvoyant oracle does,
instead of rounding it up. A spike is sized the same way: its backlog is spread over the wait the
target allows, counting the workers already starting.

Scale-up is immediate. The group shrinks only once nothing waits, only to a size that holds the
queue for a further ``DOWN_HORIZON * s`` (ski rental: a worker let go must stay gone as long as
its relaunch is billed), never below ``floor(load / k)``, and to the highest size asked for
during the last ``scale_down_delay_ms`` (the learned startup). A worker-set provider retires the
idlest workers and lets them finish, so scaling down never cancels work; the group never scales
to zero while anything runs or waits. Until ``d`` is known, every waiting task is given its own
slot.

Invoke strategy: ``StartWorkers(desired - running)`` when positive; idle workers exit by themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import model_validator

from workerplane.scaling._fields import ScalerDetails, rule_error, temporal_float, temporal_int
from workerplane.scaling.no_sync import to_ms
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

#: Rates at or below this (tasks/s) are "no activity".
IDLE_RATE_EPSILON = 0.01

#: Time constant (s) of the in-flight average that sizes the group while nothing waits.
LOAD_TAU_S = 5.0

#: A late queue is never planned to drain faster than this fraction of the SLO.
LATE_MIN_FRACTION = 0.4

#: A size within this fraction of the load counts as keeping up with it: the arrival rate is an
#: estimate, and a size at the load whose queue never drains must be judged on its own capacity.
KEEPS_UP_TOLERANCE = 0.1

#: Time constant (s) of the arrival rate measured between fresh stats.
ARRIVAL_TAU_S = 10.0

#: Time constant (s) of the in-flight average paired with Temporal's decaying rates.
RATE_TAU_S = 30.0

#: add and dispatch rates within this fraction of each other mark a steady stretch.
STEADY_TOLERANCE = 0.1

#: Slots are not learned for this many mean task durations (at least ``RETIRE_GUARD_MIN_MS``)
#: after a scale-down: retiring workers' tasks still count as in flight.
RETIRE_GUARD_DURATIONS = 3.0
RETIRE_GUARD_MIN_MS = 5_000.0

#: The average load is capped by the highest in-flight count of this window, so that the group
#: shrinks soon after the work falls away (a burst's end) instead of following the average down.
PEAK_WINDOW_MS = 2_000

#: A backlog is never planned to drain faster than this many task durations.
MIN_DRAIN_DURATIONS = 1.5

#: A smaller size is chosen only if this fraction of a worker would still be spare.
DOWN_HYSTERESIS = 0.25

#: A smaller size must hold the queue this many worker startups longer than the planning horizon
#: (ski rental: a worker let go must stay gone at least as long as its relaunch is billed; and a
#: worker retired while it holds a long task keeps billing, its free slots idle, until it ends).
DOWN_HORIZON = 3.0

#: The server's default stats cache (``matching.TaskQueueInfoByBuildIdTTL``): how late a task on
#: an idle queue may show in the stats.
STATS_CACHE_MS = 5_000

#: Scale-down window before any worker startup has been timed.
DEFAULT_STARTUP_MS = 5_000.0

#: Bounds of the learned scale-down window.
MIN_DELAY_MS = 1_000.0
MAX_DELAY_MS = 60_000.0

#: ...plus this many standard deviations of Poisson noise (sqrt of the average), so that noise
#: alone does not shrink the group.
PEAK_NOISE = 0.0

#: Waiting tasks that must be drained are planned to start within this fraction of the SLO.
DRAIN_FRACTION = 0.8

#: Fraction of a worker's slots the group may be short before another worker is added.
ROUNDING_SLACK = 0.25


class SloDetails(ScalerDetails):
    """``scaler.details`` for ``type: slo``. Only the SLO and min/max need setting."""

    algorithm_name = "slo"

    schedule_to_start_slo_ms: Annotated[int, temporal_int(1)] = 5_000
    """The p95 schedule-to-start latency to meet."""

    min_count: Annotated[int, temporal_int(0, int32=True)] = 0
    """Never fewer workers than this (a warm pool, if the user wants one)."""

    max_count: Annotated[int, temporal_int(1, int32=True)] = 10
    """Never more workers than this."""

    target_per_worker: Annotated[float | None, temporal_float(0, exclusive=True)] = None
    """Slots per worker. When unset: what the workers report (``WorkerCensus.slots``), else
    learned from the census (in flight per ready worker)."""

    target_wait_fraction: Annotated[float, temporal_float(0, exclusive=True)] = 0.6
    """Plan the group so that the newest waiting task starts within this fraction of the SLO (the
    rest is headroom for the noise of arrivals, the stats cache and worker startups)."""

    scale_down_delay_ms: Annotated[int | None, temporal_int(0)] = None
    """Scale down to the highest size asked for during this window. Unset: the learned worker
    startup time (ski rental: an idle worker is kept as long as a replacement takes to start),
    ``DEFAULT_STARTUP_MS`` until a startup has been observed."""

    metrics_poll_interval_ms: Annotated[int, temporal_int(100)] = 1_000
    """How often the controller observes the group."""

    worker_startup_ms: Annotated[int | None, temporal_int(0)] = None
    """How long a worker takes from its start to its first poll, until one has been timed. It
    also sets the lowest SLO reachable from zero workers (``slo_floor.reachable_slo``)."""

    max_warm_idle_ms: Annotated[int | None, temporal_int(0)] = None
    """Keep one idle worker warm this long after the last task when a cold start cannot meet the
    SLO (ski rental with a bound: the user pays for the lower SLO). Unset: a worker is kept warm
    only while the expected gap to the next task costs less than a cold start."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SloDetails:
        if self.min_count > self.max_count:
            raise rule_error(
                f"min_count ({self.min_count}) must not exceed max_count ({self.max_count})"
            )
        if self.target_wait_fraction > 1:
            raise rule_error("target_wait_fraction must be at most 1")
        return self


@dataclass(frozen=True)
class SloState:
    """What ``slo`` learns and remembers.

    Attributes:
        size: the size last asked for (``None`` before the first decision).
        slots: learned slots per worker (``None`` until a loaded worker has been seen).
        duration_s: learned mean task duration (``None`` until a steady stretch was seen).
        load: in-flight tasks, averaged over ``LOAD_TAU_S``.
        slow_load: in-flight tasks, averaged over ``RATE_TAU_S`` (pairs with Temporal's rates).
        last_stats: the task-queue stats of the previous observation (to spot cached copies).
        last_ms: time of the previous observation.
        last_scale_down_ms: time of the last scale-down.
        window: ``(t_ms, desired)`` samples of the last ``scale_down_delay_ms`` as a monotonic
            queue (the first entry is the window maximum).
        recent: ``(t_ms, in_flight)`` of the last ``PEAK_WINDOW_MS``, monotonic like ``window``.
        startup_ms: learned worker startup time (scale-up until every asked worker polls).
        scale_up_ms: when the scale-up being timed was asked for (``None``: none pending).
        scale_up_mark: the ready count that marks half of that scale-up's workers polling.
        backlog_est: waiting tasks now: the last fresh stats' backlog, carried forward between
            fresh copies by the arrival rate minus what the busy slots complete.
        last_up_ms: when the group last grew (its workers may still be starting).
        arrival_rate: tasks/s arriving between the last two fresh stats (``None`` until seen).
        fresh_ms, fresh_backlog, fresh_in_flight: time, backlog and in-flight count of the last
            fresh stats.
        done_since: tasks estimated to have completed since then (in flight / duration).
        last_in_flight: the in-flight count of the previous observation.
        littles_s: the task duration by Little's law alone (``None`` until a steady stretch).
        last_completed: the census's running total of completions at the previous observation.
        reported_s: the last task duration the workers reported that was trusted.
        idle_since_ms: since when nothing has run or waited (``None``: something does).
        release_now: ski rental let the idle group go: scale to zero without the window.
    """

    size: int | None = None
    slots: float | None = None
    duration_s: float | None = None
    load: float | None = None
    slow_load: float | None = None
    last_stats: QueueStats | None = None
    last_ms: int | None = None
    last_scale_down_ms: int | None = None
    window: tuple[tuple[int, int], ...] = ()
    recent: tuple[tuple[int, float], ...] = ()
    startup_ms: float | None = None
    scale_up_ms: int | None = None
    scale_up_mark: int = 0
    backlog_est: float = 0.0
    last_up_ms: int | None = None
    arrival_rate: float | None = None
    fresh_ms: int | None = None
    fresh_backlog: float = 0.0
    fresh_in_flight: float = 0.0
    done_since: float = 0.0
    last_in_flight: float = 0.0
    littles_s: float | None = None
    last_completed: int | None = None
    reported_s: float | None = None
    idle_since_ms: int | None = None
    release_now: bool = False


def sizing_stats(metrics: GroupMetrics) -> tuple[QueueStats, bool]:
    """The stats that size the group's slots, and whether other task types wait for a poller.

    A worker's slots (and the census's ``in_flight``) are activity slots; workflow tasks run in a
    separate, much larger pool and take milliseconds. So when a group serves activities and other
    types, only the activity queue is sized in slots; a workflow task backlog only asks for a
    poller. Summing the types would also count each workflow's two workflow tasks as work to
    give slots to, and make Little's law see three tasks where one activity runs.
    """
    activity = metrics.by_type.get("ACTIVITY")
    if activity is None or len(metrics.by_type) < 2:
        return metrics.stats, False
    waiting = any(s.backlog_count > 0 for t, s in metrics.by_type.items() if t != "ACTIVITY")
    return activity, waiting


def _ewma(previous: float | None, sample: float, dt_s: float, tau_s: float) -> float:
    """A time-based exponentially weighted average (irregular sampling safe)."""
    if previous is None:
        return sample
    weight = 1.0 - math.exp(-max(dt_s, 0.0) / tau_s)
    return previous + weight * (sample - previous)


class SloScaler:
    """Sizes a group so that waiting tasks start within a fraction of the SLO, running hot."""

    strategy: Strategy

    def __init__(self, details: SloDetails, strategy: Strategy) -> None:
        self.details = details
        self.strategy = strategy

    @property
    def poll_interval_s(self) -> float:
        return self.details.metrics_poll_interval_ms / 1000.0

    def initial_state(self, now: float) -> SloState:
        return SloState()

    def _given_slots(self, census: WorkerCensus) -> float | None:
        """Slots per worker that need no learning: configured, else reported by the workers."""
        if self.details.target_per_worker is not None:
            return self.details.target_per_worker
        return float(census.slots) if census.slots is not None else None

    def _learn(
        self,
        state: SloState,
        stats: QueueStats,
        census: WorkerCensus,
        in_flight: float,
        now_ms: int,
    ) -> SloState:
        """Update the learned slots per worker, mean duration and load averages."""
        dt_s = 0.0 if state.last_ms is None else (now_ms - state.last_ms) / 1000.0
        load = _ewma(state.load, in_flight, dt_s, LOAD_TAU_S)
        slow = _ewma(state.slow_load, in_flight, dt_s, RATE_TAU_S)
        slots = state.slots
        guard_ms = max(
            RETIRE_GUARD_MIN_MS, RETIRE_GUARD_DURATIONS * 1000.0 * (state.duration_s or 0.0)
        )
        given = self._given_slots(census)
        if given is not None:
            slots = given
        elif (
            census.in_flight is not None
            and census.ready
            and (state.last_scale_down_ms is None or now_ms - state.last_scale_down_ms >= guard_ms)
        ):
            # Whole tasks per polling worker (a lower bound of its slots), except shortly after a
            # scale-down, while retiring workers' tasks still count; floor() absorbs stragglers.
            seen = float(census.in_flight // census.ready)
            if seen >= 1 and (slots is None or seen > slots):
                slots = seen
        littles = state.littles_s
        rate = stats.dispatch_rate
        steady = (
            stats.backlog_count == 0
            and rate > IDLE_RATE_EPSILON
            and abs(stats.add_rate - rate) <= STEADY_TOLERANCE * rate
            and slow > 0
        )
        if steady and stats != state.last_stats:
            # Little's law holds on a steady stretch: running = rate x duration. The running
            # count is averaged over the same horizon as Temporal's rate.
            sample = slow / rate
            littles = sample if littles is None else 0.8 * littles + 0.2 * sample
        reported = state.reported_s
        mean = census.mean_task_s
        if mean is not None and mean > 0 and census.tasks_finished >= max(1, in_flight):
            # Measured where the work runs; trusted once more tasks have finished than run now
            # (before that the sample is a burst's first, short finishers). Kept when the
            # workers that reported it have gone.
            reported = mean
        # Both estimates err low: the reported mean misses long tasks still running, Little's
        # law lags a real server's rates at a burst's start. So the larger wins.
        known = [x for x in (reported, littles) if x is not None]
        duration = max(known) if known else state.duration_s
        return replace(
            state,
            slots=slots,
            duration_s=duration,
            littles_s=littles,
            reported_s=reported,
            load=load,
            slow_load=slow,
            last_ms=now_ms,
        )

    def desired(
        self, state: SloState, metrics: GroupMetrics, now_ms: int, current: int
    ) -> tuple[SloState, int, str]:
        """The size for one observation, the updated state and a description of the inputs.

        ``current`` is the group's size now; sizes are rounded with hysteresis around it.
        """
        d = self.details
        census = metrics.workers
        stats, needs_poller = sizing_stats(metrics)
        k_known = self._given_slots(census) or state.slots
        backlog = max(0, stats.backlog_count)
        if census.in_flight is not None:
            in_flight = float(max(0, census.in_flight))
        else:
            # Unknown: assume ready workers are full while the queue shows activity.
            active = backlog > 0 or stats.dispatch_rate > IDLE_RATE_EPSILON
            busy = census.ready if census.ready is not None else census.running
            in_flight = busy * (k_known or 1.0) if active else 0.0
        fresh = stats != state.last_stats
        capacity = (census.ready if census.ready is not None else census.running) * (k_known or 1.0)
        if not fresh and backlog > 0 and census.in_flight is not None and in_flight < capacity:
            # A cached copy shows waiting tasks, but slots are free now: the server would have
            # handed them out, so nothing waits any more.
            backlog = 0
        recent = (
            *((t, v) for t, v in state.recent if t > now_ms - PEAK_WINDOW_MS and v > in_flight),
            (now_ms, in_flight),
        )
        state = replace(state, recent=recent)
        prev_ms = state.last_ms
        state = self._learn(state, stats, census, in_flight, now_ms)
        state = replace(state, last_stats=stats)
        if state.duration_s is not None and census.in_flight is not None:
            dt_s = 0.0 if prev_ms is None else (now_ms - prev_ms) / 1000.0
            return self._plan(
                state,
                metrics,
                stats,
                backlog,
                in_flight,
                fresh,
                dt_s,
                now_ms,
                current,
                needs_poller,
            )
        k = state.slots or 1.0
        dur = state.duration_s
        assert state.load is not None
        slo_s = d.schedule_to_start_slo_ms / 1000.0
        target = d.target_wait_fraction * slo_s
        capacity = (census.ready if census.ready is not None else census.running) * k
        age = stats.backlog_age_s
        if backlog == 0:
            # Nothing waits: every arrival starts at once, so what runs IS the load.
            # The average smooths noise; the recent peak cuts its lag when work falls away.
            load = min(state.load, recent[0][1] + PEAK_NOISE * math.sqrt(state.load))
            drain = 0.0
            how = "no backlog"
        else:
            # Tasks wait: what runs is capped by capacity; the arrival rate may say more.
            offered = stats.add_rate * dur if dur is not None else 0.0
            load = max(state.load, in_flight, offered)
            if not fresh:
                # The server's cached copy of stats already acted on: these waiting tasks
                # have been dispatched to the workers started for them since.
                drain = 0.0
                how = f"backlog {backlog} (cached stats, already handled)"
            elif dur is None:
                drain = float(backlog)
                how = f"backlog {backlog}, task duration not learned yet: a slot each"
            else:
                # FIFO: the newest waiting task starts once the running capacity has worked
                # through the tasks ahead of it.
                wait = max(age, backlog * dur / capacity) if capacity > 0 else math.inf
                if wait < target:
                    drain = 0.0
                    how = f"backlog {backlog} age {age:.1f}s, expected wait {wait:.1f}s: absorbed"
                else:
                    horizon = max(MIN_DRAIN_DURATIONS * dur, DRAIN_FRACTION * slo_s - age)
                    drain = backlog * dur / horizon
                    how = (
                        f"backlog {backlog} age {age:.1f}s, expected wait {wait:.1f}s: drain "
                        f"over {horizon:.1f}s (d={dur:.2f}s)"
                    )
        if in_flight == 0 and backlog == 0 and stats.add_rate <= IDLE_RATE_EPSILON:
            load = 0.0
        slots_needed = load + drain
        # Round with hysteresis: grow only when short by more than ROUNDING_SLACK of a worker (a
        # sliver of missing capacity is absorbed by the queue, and the backlog term reacts if it
        # is not); shrink only when DOWN_HYSTERESIS of a worker would still be spare.
        workers = slots_needed / k
        up = max(0, math.ceil(workers - ROUNDING_SLACK))
        down = math.ceil(workers + DOWN_HYSTERESIS - 1e-9) if workers > 0 else 0
        raw = up if up > current else (down if down < current else current)
        if raw == 0 and (in_flight > 0 or backlog > 0 or needs_poller):
            raw = 1  # never scale to zero while anything runs or waits
        desired = min(max(raw, d.min_count), d.max_count)
        txt = (
            f"in_flight={in_flight:g} load={load:.1f} {how} -> {slots_needed:.1f} slots / "
            f"{k:g} per worker = {raw}"
        )
        if desired != raw:
            txt += f", clamped to {desired}"
        return state, desired, txt

    def _plan(
        self,
        state: SloState,
        metrics: GroupMetrics,
        stats: QueueStats,
        backlog: int,
        in_flight: float,
        fresh: bool,
        dt_s: float,
        now_ms: int,
        current: int,
        needs_poller: bool,
    ) -> tuple[SloState, int, str]:
        """Size the group by projecting the queue over the time a new worker takes to help."""
        d = self.details
        census = metrics.workers
        k = state.slots or 1.0
        assert state.duration_s is not None and state.load is not None
        dur: float = state.duration_s
        avg: float = state.load
        ready = census.ready if census.ready is not None else census.running
        starting = max(0, census.running - ready)
        # No free slot: tasks may be waiting that cached stats do not show yet. A worker still
        # starting is not free capacity: until it polls, what the last fresh stats saw waiting
        # still waits (else the group would retire it before it ever polls, 1 -> 0 -> 1).
        saturated = in_flight >= ready * k and (ready > 0 or starting > 0)
        slo_s = d.schedule_to_start_slo_ms / 1000.0
        target = d.target_wait_fraction * slo_s
        if fresh and ready == 0 and stats.backlog_age_s > target:
            # A cold group whose queue is already late (a burst after a lull): what the oldest task
            # has left of the SLO, less a startup, bounds the drain.
            late = slo_s - stats.backlog_age_s - self.scale_down_delay_ms(state) / 1000.0
            target = max(LATE_MIN_FRACTION * slo_s, min(target, late))
        # Completions since the last observation: counted by the workers when the provider
        # reports a running total; else busy slots over the task duration, and at least the drop
        # in the in-flight count (only completions make it fall). The estimate misses a batch of
        # tasks that started together and finish together.
        total = census.tasks_completed
        if total is not None and state.last_completed is not None and total >= state.last_completed:
            done = state.done_since + (total - state.last_completed)
        else:
            busy = (state.last_in_flight + in_flight) / 2.0
            done = state.done_since + max(busy / dur * dt_s, state.last_in_flight - in_flight)
        rate = state.arrival_rate
        if fresh:
            if state.fresh_ms is not None and now_ms > state.fresh_ms:
                # Arrivals = more waiting + more running + what completed in between.
                came = backlog - state.fresh_backlog + in_flight - state.fresh_in_flight + done
                span_s = (now_ms - state.fresh_ms) / 1000.0
                rate = _ewma(rate, max(0.0, came / span_s), span_s, ARRIVAL_TAU_S)
            state = replace(
                state, fresh_ms=now_ms, fresh_backlog=float(backlog), fresh_in_flight=in_flight
            )
            done = 0.0
        state = replace(
            state,
            done_since=done,
            arrival_rate=rate,
            last_in_flight=in_flight,
            last_completed=total,
        )
        if backlog == 0 and not saturated:
            load = min(avg, state.recent[0][1] + PEAK_NOISE * math.sqrt(avg))
        else:
            # Busy slots cap what runs; the arrival rate is what the queue must absorb.
            load = (rate if rate is not None else stats.add_rate) * dur
        lam = load / dur
        if fresh:
            waiting = float(backlog)
        elif not saturated:
            waiting = 0.0
        else:
            waiting = max(0.0, state.backlog_est + (lam - in_flight / dur) * dt_s)
        startup_s = self.scale_down_delay_ms(state) / 1000.0
        horizon = self.poll_interval_s + startup_s
        since_up = math.inf if state.last_up_ms is None else (now_ms - state.last_up_ms) / 1000.0
        still = max(0.0, startup_s - since_up)
        stable = math.floor(load / k) + 1

        def wait(n: int, horizon: float = horizon) -> float:
            keep_ready = min(ready, n)
            keep_starting = min(starting, n - keep_ready)
            new = n - keep_ready - keep_starting
            slot_s = k * (
                keep_ready * horizon
                + keep_starting * max(0.0, horizon - still)
                + new * max(0.0, horizon - startup_s)
            )
            left = max(0.0, waiting + lam * horizon - slot_s / dur)
            # A size that keeps up with arrivals (n*k/d >= lambda) is all the capacity that will
            # come: the queue waits on it. A smaller one will be topped up to ``stable`` once
            # the queue it lets grow needs it, so the newest task waits on that.
            serving = n if n * k >= (1.0 - KEEPS_UP_TOLERANCE) * lam * dur else max(n, stable)
            if serving == 0:
                return 0.0 if left <= 0 else math.inf
            return left * dur / (serving * k)

        floor = 1 if in_flight > 0 or waiting > 0 or needs_poller else 0

        def smallest(h: float) -> int:
            lo, hi = floor, max(floor, d.max_count)
            while lo < hi:
                mid = (lo + hi) // 2
                if wait(mid, h) <= target:
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        raw = smallest(horizon)
        idle = floor == 0
        state = replace(
            state,
            idle_since_ms=(state.idle_since_ms or now_ms) if idle else None,
            release_now=False,
        )
        warm_txt = ""
        if idle and raw <= 1:
            # Sparse load: one worker at most would serve what comes. Ski rental decides.
            raw, warm_txt = self._warm(state, startup_s, now_ms)
            state = replace(state, release_now=raw == 0)
        elif raw < current:
            # Shrink only once the queue is empty, and only to a size that holds it for a
            # startup longer (ski rental: a worker let go must stay gone as long as its
            # relaunch costs).
            raw = (
                current
                if waiting > 0
                else min(current, smallest(horizon + DOWN_HORIZON * startup_s))
            )
            # Never below what the load fills: only the fractional worker is duty-cycled.
            raw = max(raw, math.floor(load / k))
        desired = min(max(raw, d.min_count), d.max_count)
        state = replace(state, backlog_est=waiting)
        txt = (
            f"in_flight={in_flight:g} load={load:.1f} waiting={waiting:.1f}"
            f"{'' if fresh else ' (est)'} d={dur:.2f}s -> {raw} workers"
            f" (wait {wait(max(raw, 1)):.1f}s){warm_txt}"
        )
        if desired != raw:
            txt += f", clamped to {desired}"
        return state, desired, txt

    def _warm(self, state: SloState, startup_s: float, now_ms: int) -> tuple[int, str]:
        """Ski rental for a group with nothing running or waiting: keep one worker warm, or let
        the group go to zero at once (without waiting out the scale-down window).

        Arrivals are taken as Poisson, so the expected gap to the next task is ``1 / lambda``
        however long the group has been idle: keeping a worker warm is worth it only while that
        gap costs less than a cold start (its billed startup). When a cold start cannot meet the
        SLO (signal + poll + startup > SLO), ``max_warm_idle_ms`` lets the user pay for a warm
        worker instead, for that long after the last task.
        """
        d = self.details
        slo_ms = d.schedule_to_start_slo_ms
        cold_ms = STATS_CACHE_MS + d.metrics_poll_interval_ms + 1000.0 * startup_s
        idle_ms = 0 if state.idle_since_ms is None else now_ms - state.idle_since_ms
        if cold_ms > slo_ms and d.max_warm_idle_ms is not None and idle_ms < d.max_warm_idle_ms:
            return 1, f"; a cold start ({cold_ms / 1000:.1f}s) misses the SLO: kept warm"
        rate = state.arrival_rate or 0.0
        gap_s = 1.0 / rate if rate > IDLE_RATE_EPSILON else math.inf
        if gap_s < startup_s:
            return 1, f"; next task in ~{gap_s:.1f}s < a {startup_s:.1f}s start: kept warm"
        return 0, f"; next task in ~{gap_s:.1f}s >= a {startup_s:.1f}s start: released"

    def scale_down_delay_ms(self, state: SloState) -> float:
        """The scale-down window: configured, else the learned startup time (clamped)."""
        if self.details.scale_down_delay_ms is not None:
            return float(self.details.scale_down_delay_ms)
        hint = self.details.worker_startup_ms
        learned = (
            state.startup_ms
            if state.startup_ms is not None
            else float(hint)
            if hint is not None
            else DEFAULT_STARTUP_MS
        )
        return min(max(learned, MIN_DELAY_MS), MAX_DELAY_MS)

    def _time_startup(self, state: SloState, metrics: GroupMetrics, now_ms: int) -> SloState:
        """Learn how long workers take to start: from a scale-up until half its workers poll."""
        census = metrics.workers
        if state.scale_up_ms is None or census.ready is None:
            return state
        if census.ready >= min(state.scale_up_mark, census.running):
            sample = float(now_ms - state.scale_up_ms)
            learned = sample if state.startup_ms is None else 0.7 * state.startup_ms + 0.3 * sample
            return replace(state, startup_ms=learned, scale_up_ms=None)
        return state

    def decide(
        self, state: SloState, metrics: GroupMetrics | None, now: float
    ) -> tuple[SloState, Decision]:
        d = self.details
        if metrics is None:
            return state, Hold(reason="metrics unavailable: holding the current size")
        now_ms = to_ms(now)
        census_size = metrics.workers.desired
        if self.strategy is Strategy.INVOKE:
            now_size = metrics.workers.running
        elif census_size is not None:
            now_size = census_size
        else:
            now_size = state.size if state.size is not None else metrics.workers.running
        state, desired, inputs = self.desired(state, metrics, now_ms, now_size)
        state = self._time_startup(state, metrics, now_ms)
        delay = self.scale_down_delay_ms(state)
        kept = [(t, v) for t, v in state.window if t >= now_ms - delay and v > desired]
        kept.append((now_ms, desired))
        state = replace(state, window=tuple(kept))
        running = metrics.workers.running
        if self.strategy is Strategy.INVOKE:
            state = replace(state, size=desired)
            missing = desired - running
            if missing <= 0:
                return state, Hold(reason=f"{inputs}; {running} running: enough")
            return state, StartWorkers(
                count=missing, reason=f"{inputs}; {running} running -> start {missing}"
            )
        current = metrics.workers.desired
        if current is None:
            current = state.size if state.size is not None else running
        window_max = desired if state.release_now else kept[0][1]
        target = desired if desired >= current else min(current, window_max)
        if current > d.max_count:
            target = min(target, d.max_count)
        state = replace(state, size=target)
        if target == current:
            return state, Hold(reason=f"{inputs}; size {current}: holding")
        if target < current:
            state = replace(state, last_scale_down_ms=now_ms)
        else:
            state = replace(state, last_up_ms=now_ms)
            if state.scale_up_ms is None and metrics.workers.ready is not None:
                ready = metrics.workers.ready
                mark = ready + math.ceil((target - ready) / 2)
                state = replace(state, scale_up_ms=now_ms, scale_up_mark=mark)
        return state, SetSize(size=target, reason=f"{inputs}; size {current} -> {target}")
