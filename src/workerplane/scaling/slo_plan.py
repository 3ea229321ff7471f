"""How ``slo`` sizes a group once the task duration is known: it projects the FIFO queue over
the time a new worker takes to help, and decides sparse load by ski rental.

:class:`QueuePlanner` is the planning half of :class:`workerplane.scaling.slo.SloScaler`; the
scaler adds the learning and the decision protocol.
"""

from __future__ import annotations

import math
from dataclasses import replace

from workerplane.scaling.slo_arrivals import (
    arrivals_fell_below,
    arrivals_rose_above,
    counted_arrivals,
)
from workerplane.scaling.slo_idle import (
    first_worker_deferred,
    learn_idle_gap,
    mean_idle_gap,
    track_cold_wait,
    warm_or_release,
)
from workerplane.scaling.slo_inflight import (
    SlotSupply,
    advance_cohorts,
    census_lag,
    young_slot_seconds,
)
from workerplane.scaling.slo_model import (
    ARRIVAL_TAU_S,
    ARRIVED_SOME,
    BUSY_RISE_SIGMAS,
    DEFAULT_SCALE_DOWN_DELAY_MS,
    DOWN_HORIZON,
    KEEPS_UP_TOLERANCE,
    LATE_MIN_FRACTION,
    MAX_DELAY_MS,
    MIN_DELAY_MS,
    STANDING_QUEUE_SHARE,
    SloDetails,
    SloState,
    ewma,
    wait_fraction,
)
from workerplane.scaling.slo_shrink import (
    busy_worker_floor,
    load_worker_floor,
    standing_queue_spare,
    starting_not_needed,
)
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy


class QueuePlanner:
    """Plans the size from the learned state (the planning half of ``SloScaler``)."""

    details: SloDetails
    strategy: Strategy

    @property
    def poll_interval_s(self) -> float:
        return self.details.metrics_poll_interval_ms / 1000.0

    def plan(
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
        ready = census.polling
        starting = max(0, census.running - ready)
        # No free slot: tasks may be waiting that cached stats do not show yet. A worker still
        # starting is not free capacity: until it polls, what the last fresh stats saw waiting
        # still waits (else the group would retire it before it ever polls, 1 -> 0 -> 1).
        saturated = in_flight >= ready * k and (ready > 0 or starting > 0)
        slo_s = d.schedule_to_start_slo_ms / 1000.0
        target = wait_fraction(d, state) * slo_s
        if fresh and ready == 0 and stats.backlog_age_s > target:
            # A cold group's late queue: the oldest task's SLO left, less a startup, bounds it.
            late = slo_s - stats.backlog_age_s - self.scale_down_delay_ms(state) / 1000.0
            target = max(LATE_MIN_FRACTION * slo_s, min(target, late))
        # Completions since the last observation: counted by the workers when the provider
        # reports a running total; else busy slots over the task duration, and at least the drop
        # in the in-flight count (only completions make it fall). The estimate misses a batch of
        # tasks that started together and finish together.
        total = census.tasks_completed
        started: float | None = None
        completed: int | None = None
        if total is not None and state.last_completed is not None and total >= state.last_completed:
            completed = total - state.last_completed
        young = advance_cohorts(
            state.young,
            last_in_flight=state.last_in_flight,
            in_flight=in_flight,
            completed=completed,
            now_ms=now_ms,
            dt_ms=round(dt_s * 1000),
            half_duration_ms=500.0 * dur,
        )
        if completed is not None:
            done = state.done_since + completed
            # Every start either completed since or is still in flight: exact, where busy slots
            # over the mean duration miss how unevenly tasks end (many short ones on a few slots
            # while long ones hold the rest).
            started = completed + in_flight - state.last_in_flight
        else:
            busy = (state.last_in_flight + in_flight) / 2.0
            done = state.done_since + max(busy / dur * dt_s, state.last_in_flight - in_flight)
        rate = state.arrival_rate
        # No worker polls and the cached stats show nothing waiting: the controller has read the
        # uncached backlog hint, and it said nothing waits. That reading counts arrivals as
        # fresh stats do: an idle queue's stats stop changing, and counted from the last fresh
        # reply (minutes ago) a storm's first second read as 0.3 tasks/s, not 241.
        recounted = fresh or (ready == 0 and backlog == 0)
        if recounted and state.fresh_ms is not None and now_ms > state.fresh_ms:
            # Arrivals = more waiting + more running + what completed in between.
            came = backlog - state.fresh_backlog + in_flight - state.fresh_in_flight + done
            lagging = census_lag(came, census.in_flight_lag_s, state.lagging_since_ms, now_ms)
            if lagging is not None:
                # Tasks that left the queue unseen by a lagging census run (a burst's 11 tasks on
                # 5 new workers read as idle: 5 -> 0 -> 7); the count of arrivals waits for it.
                in_flight -= came
                recounted = False
                state = replace(state, lagging_since_ms=lagging)
        if recounted:
            if state.fresh_ms is not None and now_ms > state.fresh_ms:
                span_s = (now_ms - state.fresh_ms) / 1000.0
                sample = max(0.0, came / span_s)
                rose = rate is not None and arrivals_rose_above(rate, came, span_s)
                dropped = rate is not None and arrivals_fell_below(rate, came, span_s)
                rate = ewma(rate, sample, span_s, ARRIVAL_TAU_S)
                state = replace(
                    state,
                    arrival_sample=sample,
                    surge_rate=sample if rose else None,
                    count_fell=dropped,
                    tail_ms=now_ms if came >= ARRIVED_SOME else state.tail_ms,
                )
            else:
                state = replace(state, tail_ms=now_ms)
            state = replace(
                state,
                fresh_ms=now_ms,
                fresh_backlog=float(backlog),
                fresh_in_flight=in_flight,
                lagging_since_ms=None,
            )
            done = 0.0
        state = replace(
            state,
            done_since=done,
            arrival_rate=rate,
            last_in_flight=in_flight,
            last_completed=total,
            young=young,
        )
        arrivals_fell = False
        if (backlog == 0 or not fresh) and not saturated:
            # Nothing waits, or a cached copy while a slot is free: what runs is the load. The
            # average smooths noise; the recent peak cuts its lag when work falls away. The
            # arrivals counted between fresh stats are its floor while they last (the smoothed
            # rate, unless the latest count fell below it: a burst's end): a quiet second of a
            # steady stream is noise, not less load (3/s of 2 s tasks at a 2 s SLO: 107 -> 43
            # scale actions, p95 1.68 -> 1.23 s at the same cost).
            load = min(avg, state.recent[0][1])
            if rate is not None and state.arrival_sample is not None:
                floor_rate = min(rate, state.arrival_sample)
                windows = counted_arrivals(state, fresh, started, done + in_flight, now_ms, dt_s)
                fell = [a / span for a, span in windows if arrivals_fell_below(floor_rate, a, span)]
                if state.count_fell:
                    # The fresh count itself fell far below the rate: a storm that stopped
                    # (counted as none, no window can fall below that).
                    fell.append(state.arrival_sample)
                if fell:
                    # The arrivals have fallen: what runs now is the load, not its average
                    # (which lags a storm's end by its time constant).
                    arrivals_fell = True
                    floor_rate = min(fell)
                    load = min(load, in_flight)
                load = max(load, floor_rate * dur)
        else:
            # Busy slots cap what runs; the arrival rate is what the queue must absorb. A surge
            # counted at its start is carried at its own rate: the average lags it by its time
            # constant (a burst after a lull read as 2.8 slots of load with 8 busy and 5 waiting,
            # and its second worker was retired as spare: p95 5.2 s at a 5 s SLO, real server).
            load = max(rate if rate is not None else stats.add_rate, state.surge_rate or 0.0) * dur
        lam = load / dur
        if fresh:
            waiting = float(backlog)
        elif not saturated:
            # A free slot does not prove the queue empty: with several partitions a slot polls
            # one of them while tasks wait on another (seen on a real server: 4 -> 1 workers
            # mid-burst with 57 waiting). The tasks the last fresh stats saw waiting are gone
            # once as many tasks have started since (completions plus the change in flight).
            started_since = done + in_flight - state.fresh_in_flight
            waiting = max(0.0, min(state.backlog_est, state.fresh_backlog - started_since))
        else:
            if started is None:
                started = in_flight / dur * dt_s
            # A surge counted at its start (far above the quiet before it) goes on arriving
            # unseen until fresh stats: carried at its own rate, not the average's.
            arriving = max(lam, state.surge_rate or 0.0)
            waiting = max(0.0, state.backlog_est + arriving * dt_s - started)
        state = replace(state, tail_ms=None) if waiting <= 0 else state
        # A storm's tail: once the last fresh count fell far below the rate (the arrivals
        # stopped), the newest waiting task came no later than the last reading that counted
        # arrivals, and the queue ahead of it must drain within what is left of its target
        # (while arrivals go on, the newest waiting task is taken as new).
        tail_ms = state.tail_ms if state.count_fell else None
        tail_age = 0.0 if tail_ms is None else max(0.0, (now_ms - tail_ms) / 1000.0)
        startup_s = self.scale_down_delay_ms(state) / 1000.0
        horizon = self.poll_interval_s + startup_s
        since_up = math.inf if state.last_up_ms is None else (now_ms - state.last_up_ms) / 1000.0
        still = max(0.0, startup_s - since_up)
        ahead = 0.0 if self.strategy is Strategy.INVOKE else lam  # invoked on any cycle
        stable = math.floor(load / k) + 1 if ahead else 1

        def wait(n: int, horizon: float = horizon, young_held: bool = False) -> float:
            keep_ready = min(ready, n)
            keep_starting = min(starting, n - keep_ready)
            new = n - keep_ready - keep_starting
            held = 0.0  # what tasks that started together hold beyond the fluid count
            if young_held and keep_ready:
                held = young_slot_seconds(young, now_ms=now_ms, duration_s=dur, horizon_s=horizon)
                held *= keep_ready / ready

            supply = SlotSupply(
                duration_s=dur, slots=k, ready=keep_ready, busy=in_flight, starting=keep_starting,
                starting_left_s=still, new=new, startup_s=startup_s, held_slot_s=held,
            )  # fmt: skip
            served = supply.started_by(horizon)
            left = max(0.0, waiting + ahead * horizon - served)
            # A size that keeps up with arrivals (n*k/d >= lambda) is all the capacity that will
            # come: the queue waits on it. A smaller one will be topped up to ``stable`` once
            # the queue it lets grow needs it, so the newest task waits on that.
            serving = n if n * k >= (1.0 - KEEPS_UP_TOLERANCE) * ahead * dur else max(n, stable)
            if serving == 0:
                return 0.0 if left <= 0 else math.inf
            newest = left * dur / (serving * k)
            if n == 0 or waiting <= 0 or tail_age + horizon >= slo_s:
                return newest
            # ``newest`` is the wait of a task that arrives once the horizon is over. The newest
            # task waiting now must start within the target too (a storm planned on ``newest``
            # alone: p95 4.94 s at a 5 s SLO), its age known once the arrivals stopped
            # (``tail_age``), on the workers asked now, not a later top-up (1 worker held for
            # 500 waiting tasks for 9 s); once past the target, on the SLO itself (a storm's tail
            # 2 s old when its workers were cut, 54 -> 40: 122 of 500 tasks over a 5 s SLO).
            tail = tail_age
            if waiting > served:
                tail += supply.time_to_start(waiting, horizon + waiting * dur / (n * k))
            if tail_age + horizon >= target:
                tail -= slo_s - target
            return max(newest, tail)

        floor = 1 if in_flight > 0 or waiting > 0 or needs_poller else 0

        def smallest(h: float, young_held: bool = False) -> int:
            lo, hi = floor, max(floor, d.max_count)
            while lo < hi:
                mid = (lo + hi) // 2
                if wait(mid, h, young_held) <= target:
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        raw = smallest(horizon)
        idle = floor == 0
        state = replace(learn_idle_gap(state, idle, now_ms), release_now=False)
        why_txt = ""
        # Tasks on a cold group (nothing runs): its workers may start as late as the oldest
        # allows (:func:`first_worker_deferred`). A storm of workflow tasks waiting for a poller
        # waits as one of activities does; a few do not: a workflow's first task on an idle
        # queue is what its caller waits on (half a second more to scale from zero at 5 s).
        cold = census.running == 0 and in_flight == 0 and waiting > 0
        cold = cold and (waiting >= k or not needs_poller)
        state, still_arriving = track_cold_wait(
            state, stats, cold=cold, backlog=backlog, waiting=waiting, fresh=fresh,
            now_ms=now_ms, poll_s=self.poll_interval_s,
        )  # fmt: skip
        if cold and first_worker_deferred(
            state.waiting_since_ms,
            now_ms,
            waiting=waiting,
            workers=raw,
            slots=k,
            duration_s=dur,
            next_task_in_s=mean_idle_gap(state),
            still_arriving=still_arriving,
            target_s=target,
            slo_s=slo_s,
            poll_s=self.poll_interval_s,
            startup_s=startup_s,
        ):
            raw, why_txt = 0, f"; {raw} workers deferred: the oldest task can wait for more"
        elif idle and raw <= 1:
            # Sparse load: one worker at most would serve what comes. Ski rental decides.
            raw, why_txt = warm_or_release(d, state, startup_s, now_ms)
            state = replace(state, release_now=raw == 0)
        elif raw < current:
            # Shrink only once the queue is empty, and only to a size that holds it for a
            # startup longer (ski rental: a worker let go must stay gone as long as its
            # relaunch costs).
            planned = raw
            # A queue that stands at a stationary load is not drained to empty first: a group
            # one worker above the load drains it, shrinks back to the load, lets it grow and
            # grows again (steady at a 30 s SLO: 5 -> 7 -> 6 -> 5, dearer than the fixed size).
            # Its spare worker goes while the queue stays short, busy or not: its tasks are
            # short, and it takes no new one. Only when the latest count agrees the load is
            # that low: an average lags a burst that came after a lull (2 workers, 8 busy, 5
            # waiting, counted 6.5/s, averaged 2.8/s: one was let go; real p95 3.7 s).
            counted = max(load, (state.arrival_sample or 0.0) * dur)
            standing = (
                waiting > 0
                and standing_queue_spare(current, counted / k, dur, startup_s)
                and wait(current - 1) <= STANDING_QUEUE_SHARE * target
            )
            if waiting <= 0:
                raw = min(current, smallest(horizon + DOWN_HORIZON * startup_s))
            else:
                raw = current - 1 if standing else current
            # Never below what the load fills: only the fractional worker is duty-cycled. Nor
            # below the workers the tasks in flight fill (:func:`busy_worker_floor`): a retired
            # worker whose slots are all busy saves nothing until its tasks end (and a group
            # whose tasks still pour in, its load average lagging, would retire the workers
            # just started for them). The load is a floor of the shrink, never a growth: the
            # wait says fewer workers serve the queue in time, and a storm's rate, counted as it
            # ended, grew its warmed group mid-run (12 -> 18 workers for a scheduled storm at a
            # 30 s SLO).
            windows = counted_arrivals(state, fresh, started, done + in_flight, now_ms, dt_s)
            rising = any(
                arrivals_rose_above(load / dur, a, span, BUSY_RISE_SIGMAS) for a, span in windows
            )
            busy_workers = 0 if standing else busy_worker_floor(in_flight, k, rising)
            if busy_workers > busy_worker_floor(in_flight, k, rising=False):
                why_txt = "; partly busy workers kept: more tasks started than the load says"
            raw = max(raw, min(current, load_worker_floor(load / k)), busy_workers)
            # Once the counted starts say the arrivals have fallen and nothing waits, the idle
            # workers go now: the scale-down window guards against a load that comes back
            # within a startup, and this one has gone (a storm's workers idled through the
            # window: 21 of them for 5 s after each scheduled storm).
            state = replace(state, release_now=arrivals_fell and waiting == 0)
            # The starting workers are let go only if the plan holds once the tasks that
            # started together are counted as holding their slots together: the fluid model
            # counts busy slots as freeing evenly, and a storm's slots free a task's length
            # after it landed (54 -> 40 workers with 318 waiting, 122 tasks over a 5 s SLO;
            # 13 -> 9 with 43 waiting on a fan-out of 5 s tasks, p95 6.7 s).
            cut = current
            if waiting > 0 and fresh:
                needed = max(planned, smallest(horizon, young_held=True))
                cut = starting_not_needed(needed, current, ready, starting, in_flight / k)
            if cut < current:
                # Fresh stats count fewer waiting than the estimate the group grew on (a storm's
                # rate carried past its end): the workers not polling yet that the plan does not
                # need go now; those that poll keep draining the queue.
                raw = cut
                state = replace(state, release_now=True)
        desired = min(max(raw, d.min_count), d.max_count)
        state = replace(state, backlog_est=waiting)
        txt = (
            f"in_flight={in_flight:g} load={load:.1f} waiting={waiting:.1f}"
            f"{'' if fresh else ' (est)'} d={dur:.2f}s -> {raw} workers"
            f" (wait {wait(max(raw, 1)):.1f}s){why_txt}"
        )
        if desired != raw:
            txt += f", clamped to {desired}"
        return state, desired, txt

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
            else DEFAULT_SCALE_DOWN_DELAY_MS
        )
        return min(max(learned, MIN_DELAY_MS), MAX_DELAY_MS)
