"""workerplane's SLO-driven scaler ``slo``: meet a p95 schedule-to-start target at the lowest cost.

The user sets the SLO (``schedule_to_start_slo_ms``) and ``min_count``/``max_count``; everything
else is learned from what the controller observes:

* **slots per worker** (``k``): ``target_per_worker`` if set, else what the workers report in the
  census, else the most tasks per ready worker ever seen in flight;
* **mean task duration** (``d``): what the workers report (``WorkerCensus.mean_task_s``, the run
  time of their finished tasks) once more tasks have finished than are running, else Little's law
  on steady stretches, ``in_flight / dispatch_rate`` (a real server's rates rise within a second
  of a burst while the 30 s running average lags, so that estimate starts far too low); and never
  below what the tasks started so far must average, the finished ones' run time plus how long
  the ones in flight have run (``WorkerCensus.in_flight_s``);
* **worker startup** (``s``): from a scale-up until half its workers poll;
* **arrival rate** (``lambda``): between two fresh stats replies, arrivals = more waiting + more in
  flight + completed (the census's running total ``tasks_completed`` when the provider keeps one,
  else estimated from the busy slots), smoothed over ``ARRIVAL_TAU_S``;
* **waiting tasks** (``B``): the backlog of a fresh stats reply; between fresh replies (the server
  caches stats for seconds; a reply that differs only by a lower backlog is the cached copy under
  the backlog hint, :func:`is_fresh`) carried forward: with every slot busy, by the arrivals less
  the starts (completions plus the change in flight, counted when the provider keeps a running
  total of completions; else ``in_flight / d`` per second); with a slot free (with partitions a
  free slot does not prove the queue empty), the tasks seen waiting count until as many started.

Each observation plans the size by projecting the FIFO queue over ``H = poll interval + s``, the
time a worker asked for at the next observation would take to help. For a size ``n`` (ready
workers serve from now, starting ones once started, new ones after ``s``):

    left(n) = max(0, B + lambda*H - tasks n starts over H)
    wait(n) = left(n) * d / (max(n, m) * k)        m = floor(lambda*d / k) + 1

A busy slot starts ``t / d`` tasks by ``t``; a free slot takes one the moment it polls, so
``max(1, t / d)`` by ``t`` after its poll (``slo_inflight.SlotSupply``).

``wait(n)`` is when the newest task would start once capacity that drains the queue (``m``
workers) is there; the size is the smallest ``n`` with ``wait(n) <= target_wait_fraction * SLO``
(the fraction as the achieved p95 the workers report adjusted it, unless ``feedback: false``:
:mod:`workerplane.scaling.slo_feedback`).
A size below ``m`` is allowed while the queue can hold the overflow: the fractional worker is
duty-cycled (1.5 workers of load alternate 1 and 2), as the clairvoyant oracle does.

Scale-up is immediate. The group shrinks only once nothing waits, only to a size that holds the
queue for a further ``DOWN_HORIZON * s`` (ski rental), never below ``floor(load / k)`` nor the
workers the tasks in flight fill, and to the highest size asked for during the last
``scale_down_delay_ms`` (the learned startup); a worker whose tasks ran far past ``d`` goes only
once the smaller size was wanted that long (:mod:`workerplane.scaling.retire`). Retired workers
finish their tasks; the group never scales to zero while anything runs or waits. Until ``d`` is
known, the waiting tasks get a slot each for a share of them, and all of them once the oldest's
target nears (:mod:`workerplane.scaling.slo_first`).

Invoke strategy: ``StartWorkers(desired - running)`` when positive; idle workers exit by themselves.
"""

from __future__ import annotations

import math
from dataclasses import replace

from workerplane.scaling.invoke import invoke_target
from workerplane.scaling.latency import GroupFacts
from workerplane.scaling.no_sync import to_ms
from workerplane.scaling.retire import MAX_HOLD_S, largest_over, remember_size, shrink_to
from workerplane.scaling.slo_feedback import observe
from workerplane.scaling.slo_first import first_sizing, rounded
from workerplane.scaling.slo_floor import reachable_slo
from workerplane.scaling.slo_model import (
    LOAD_TAU_S,
    PEAK_WINDOW_MS,
    RATE_TAU_S,
    REPORTED_SHARE,
    REPORTED_TAU_S,
    RETIRE_GUARD_DURATIONS,
    RETIRE_GUARD_MIN_MS,
    STEADY_TOLERANCE,
    SloDetails,
    SloState,
    activity_adds_settled,
    ewma,
    sized_backlog_read_now,
    sizing_stats,
    wait_fraction,
    workflows_dispatching_since,
)
from workerplane.scaling.slo_plan import QueuePlanner
from workerplane.scaling.types import (
    IDLE_RATE_EPSILON,
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

__all__ = ["SloDetails", "SloScaler", "SloState", "is_fresh", "sizing_stats"]


def is_fresh(stats: QueueStats, last: QueueStats | None) -> bool:
    """Whether ``stats`` is a new reply of the server's stats, not the cached copy seen last.

    A reply that differs from the last only by a lower backlog is the same cached copy: the
    previous observation's backlog was raised by the uncached backlog hint (which knows no ages
    nor rates), and the hint is no longer read now that a worker polls. Taking it for fresh
    would read "nothing waits" while the tasks the hint saw still wait (a storm seen by the hint,
    then 10 -> 7 workers with 450 tasks waiting). A real refresh moves the rates or the age; the
    pollers, listed live, do not tell (:meth:`QueueStats.cached_part`).
    """
    if last is None:
        return True
    if stats.same_reply(last):
        return False
    only_backlog_fell = (
        replace(stats, backlog_count=last.backlog_count).same_reply(last)
        and stats.backlog_count < last.backlog_count
    )
    return not only_backlog_fell


class SloScaler(QueuePlanner):
    """Sizes a group so that waiting tasks start within a fraction of the SLO, running hot."""

    strategy: Strategy

    def __init__(self, details: SloDetails, strategy: Strategy) -> None:
        self.details = details
        self.strategy = strategy

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
        load = ewma(state.load, in_flight, dt_s, LOAD_TAU_S)
        slow = ewma(state.slow_load, in_flight, dt_s, RATE_TAU_S)
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
        if steady and not stats.same_reply(state.last_stats):
            # Little's law holds on a steady stretch: running = rate x duration. The running
            # count is averaged over the same horizon as Temporal's rate; one sample per reply
            # of the server's stats (a copy read again, its live pollers aside, adds none).
            sample = slow / rate
            littles = sample if littles is None else 0.8 * littles + 0.2 * sample
        reported = state.reported_s
        basis = state.reported_n * math.exp(-dt_s / REPORTED_TAU_S)
        mean = census.mean_task_s
        finished = census.tasks_finished
        if (
            mean is not None
            and mean > 0
            and finished >= max(1, in_flight)
            and finished >= REPORTED_SHARE * basis
        ):
            # Measured where the work runs; trusted once more tasks have finished than run now
            # (before that the sample is a burst's first, short finishers), and only from a
            # sample not much smaller than the one it replaces: the census averages the workers
            # alive now, and the last ones of a shrinking group are those whose tasks ran
            # longest. Kept when the workers that reported it have gone.
            reported, basis = mean, float(finished)
        # The reported mean misses the long tasks still running. With how long those have run
        # so far, the mean of every task the workers started is at least this: when the short
        # tasks of a bimodal load finish first, it keeps a mean of 0.2 s from being learned while
        # 60 s tasks fill every slot.
        floor = 0.0
        if census.in_flight_s is not None and census.in_flight:
            started = finished + census.in_flight
            floor = (census.in_flight_s + (mean or 0.0) * finished) / started
        # Both estimates err low: the reported mean misses long tasks still running, Little's
        # law lags a real server's rates at a burst's start. So the larger wins, raised to the
        # floor. The floor alone is no estimate: a storm's first tasks have run a moment, and a
        # duration "learned" from that would size the storm as if its tasks took a moment.
        known = [x for x in (reported, littles) if x is not None]
        duration = max([*known, floor]) if known else state.duration_s
        return replace(
            state,
            slots=slots,
            duration_s=duration,
            littles_s=littles,
            reported_s=reported,
            reported_n=basis,
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
        since = workflows_dispatching_since(state.workflows_since_ms, metrics, now_ms)
        state = replace(state, workflows_since_ms=since)
        settled = activity_adds_settled(since, now_ms, self.poll_interval_s)
        stats, needs_poller = sizing_stats(metrics, adds_settled=settled)
        # A backlog read uncached while workers poll (every slot busy) is current, lower than
        # the last one or not. (Read while none polls, it only ever shows a storm landing on
        # an idle queue, which raises the backlog: a fresh copy already.)
        fresh = is_fresh(stats, state.last_stats) or (
            census.polling > 0 and sized_backlog_read_now(metrics)
        )
        if not fresh and state.last_stats is not None:
            stats = state.last_stats  # the reply seen last, with the hint's backlog if it had one
        k_known = self._given_slots(census) or state.slots
        backlog = max(0, stats.backlog_count)
        if census.in_flight is not None:
            in_flight = float(max(0, census.in_flight))
        else:
            # Unknown: assume ready workers are full while the queue shows activity.
            in_flight = census.polling * (k_known or 1.0) if stats.shows_activity() else 0.0
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
            return self.plan(
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
        target = wait_fraction(d, state) * d.schedule_to_start_slo_ms / 1000.0
        capacity = census.polling * k
        if census.in_flight is None and state.load is not None:
            # The census cannot count the tasks in flight, so the average is of an assumed count
            # (every polling worker full). Workers that returned by themselves took their
            # assumed load with them: the average of a count they no longer make is no
            # evidence (on Lambda, after a wave of 200, one handler left and 4 tasks waiting
            # got 16 handlers on the 67 slots the average still held).
            state = replace(state, load=min(state.load, in_flight))
        state, load, drain, how = first_sizing(
            d,
            state,
            stats,
            backlog=backlog,
            in_flight=in_flight,
            completed=census.tasks_completed,
            fresh=fresh,
            capacity=capacity,
            target_s=target,
            poll_s=self.poll_interval_s,
            startup_s=self.scale_down_delay_ms(state) / 1000.0,
            now_ms=now_ms,
        )
        slots_needed = load + drain
        raw = rounded(slots_needed, k, current)
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

    def _feedback(self, state: SloState, metrics: GroupMetrics, now_ms: int, size: int) -> SloState:
        """The feedback loop after this census's achieved schedule-to-start, judged against
        what bounds the group (its cap, its learned startup and the time to see a task, or the
        warm pool it was given ahead of the work)."""
        d = self.details
        reach = reachable_slo(d, self.strategy, fresh_signals=True)
        startup_ms = state.startup_ms if state.startup_ms is not None else reach.startup_ms
        facts = GroupFacts(
            desired=size,
            max_count=d.max_count,
            startup_s=startup_ms / 1000.0,
            signal_delay_s=(reach.signal_ms + reach.poll_ms) / 1000.0,
            warmed=state.warmed,
        )
        slo_s = d.schedule_to_start_slo_ms / 1000.0
        fb = observe(state.feedback, metrics.workers.schedule_to_start, now_ms, size, slo_s, facts)
        judged = fb.verdict is not state.feedback.verdict
        return replace(state, feedback=fb, warmed=state.warmed and not judged)

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
        if d.feedback:
            state = self._feedback(state, metrics, now_ms, now_size)
        state, desired, inputs = self.desired(state, metrics, now_ms, now_size)
        inputs += state.feedback.describe(wait_fraction(d, state))
        state = self._time_startup(state, metrics, now_ms)
        delay = self.scale_down_delay_ms(state)
        # Kept longer than the window when the census says which workers hold long tasks: such
        # a worker goes after its own span.
        loads = metrics.workers.loads
        keep_ms = delay if loads is None else max(delay, MAX_HOLD_S * 1000.0)
        window = remember_size(state.window, now_ms, desired, keep_ms)
        state = replace(state, window=window)
        running = metrics.workers.running
        if self.strategy is Strategy.INVOKE:
            k = self._given_slots(metrics.workers) or state.slots or 1.0
            target, capped = invoke_target(desired, metrics, d.min_count, k)
            inputs += capped
            state = replace(state, size=target)
            missing = target - running
            if missing <= 0:
                return state, Hold(reason=f"{inputs}; {running} running: enough")
            return state, StartWorkers(
                count=missing, reason=f"{inputs}; {running} running -> start {missing}"
            )
        current = metrics.workers.desired
        if current is None:
            current = state.size if state.size is not None else running
        window_max = desired if state.release_now else largest_over(window, now_ms, delay / 1000.0)
        wanted = desired if desired >= current else min(current, window_max)
        target = shrink_to(wanted, current, loads, window, now_ms, state.duration_s, delay / 1000)
        if target > wanted:
            inputs += f"; {target - wanted} kept: their tasks ran long, retiring saves nothing yet"
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
