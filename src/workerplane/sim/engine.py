"""A deterministic discrete-event simulator of one Temporal task queue and its workers.

Tasks wait in a FIFO backlog (with ``ServerModel.partitions`` > 1, on random partitions:
:mod:`workerplane.sim.partitions`); free worker slots take them in the order they became free
(Temporal's matcher, :mod:`workerplane.sim.matching`). Workers start after a random delay
(:class:`~workerplane.sim.models.WorkerModel`); invoke workers exit when idle or old, worker-set
workers are retired when the size drops (starting ones first, then idle ones, then those whose
tasks end first, or as a real provider orders them: ``WorkerModel.retire_as_reported``) and finish
their in-flight tasks. The server's stats are cached for ``stats_ttl_s``, its rates are
sliding windows (:mod:`workerplane.sim.server_rates`), and pollers stay listed for
``poller_history_ttl_s`` (:class:`~workerplane.sim.models.ServerModel`). Every
``scaler.poll_interval_s`` the REAL controller's plan runs
(:func:`~workerplane.planning.plan.plan_cycle`) on an exact, fresh census, and its action is
executed here. Cost is worker-seconds, launch to exit. docs/policy-lab.md ("The simulator model")
states the model in full.

Everything random is drawn from one seeded ``numpy.random.Generator`` and ties between events at
the same instant are broken by insertion order, so a run is exactly reproducible.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from workerplane.planning.actions import Action, GroupState, Invoke, NoAction, Reconcile, Resize
from workerplane.planning.observe import Observation, needs_fresh_backlog
from workerplane.planning.plan import GroupIntent, action_for, advance, plan_cycle
from workerplane.scaling.retire import retire_order
from workerplane.scaling.types import Decision, GroupMetrics, Hold, QueueStats, WorkerCensus
from workerplane.sim.fleet import EXITED, READY, RETIRING, STARTING, SimWorker, bill, retirees
from workerplane.sim.matching import Matcher
from workerplane.sim.models import ServerModel, SimOptions, SimResult, SimScaler, WorkerModel
from workerplane.sim.partitions import PartitionedBacklog
from workerplane.sim.reports import WorkerReports
from workerplane.sim.scheduled import TraceSchedule
from workerplane.sim.server_rates import SlidingRate
from workerplane.sim.traces import Trace

_ARRIVE, _WORKER_READY, _TASK_DONE, _TICK, _IDLE_CHECK = range(5)
_LIFETIME, _SAMPLE, _SLOT_FREE, _FORWARD = range(5, 9)


class Simulation:
    """One run of one policy on one trace. Use :func:`simulate` unless you need the internals."""

    def __init__(
        self,
        trace: Trace,
        scaler: SimScaler,
        workers: WorkerModel,
        server: ServerModel | None = None,
        options: SimOptions | None = None,
        policy_name: str = "",
    ) -> None:
        self.trace = trace
        self.scaler = scaler
        self.wm = workers
        self.sm = server or ServerModel()
        self.opt = options or SimOptions()
        self.policy_name = policy_name
        self.rng = np.random.default_rng(self.opt.seed)

        n = trace.n_tasks
        self.waits = np.full(n, np.nan)
        self.completed = np.zeros(n, dtype=np.int64)
        self.backlog = PartitionedBacklog(
            self.sm.partitions,
            self.rng,
            lambda task: float(trace.arrivals[task]),
            self.sm.forward_interval_s,
        )
        self.matcher = Matcher(
            self.backlog,
            is_ready=lambda wid: self.workers[wid].state == READY,
            start=lambda task, wid: self._start_task(task, self.workers[wid]),
            forward_later=lambda: self._push(self.now + self.sm.forward_interval_s, _FORWARD),
            now=lambda: self.now,
        )
        self.workers: list[SimWorker] = []
        self.alive: set[int] = set()
        self.events: list[tuple[float, int, int, int, float]] = []
        self.seq = 0
        self.now = 0.0
        self.add_rate = SlidingRate(self.sm.rate_bucket_s, self.sm.rate_window_s)
        self.dispatch_rate = SlidingRate(self.sm.rate_bucket_s, self.sm.rate_window_s)
        self.cached_stats: QueueStats | None = None
        self.cached_at = -math.inf
        self.desired: int | None = None
        self.decisions: list[tuple[float, Decision]] = []
        self.launches = 0
        self.scale_actions = 0
        self.done_count = 0
        self.intent = GroupIntent(
            version_key=trace.name,
            group_id=policy_name,
            provider_type="simulated",
            scaler_type=policy_name,
            strategy=scaler.strategy,
            scaler=scaler,
            typical_startup_ms=workers.startup.mean * 1000.0,
        )
        self.plan_state = GroupState(scaler_state=None)
        self.schedule = TraceSchedule(trace)
        interval = self.wm.report_interval_s if self.wm.reports_status else None
        self.reports = WorkerReports(interval) if interval else None
        self.series: list[tuple[float, int, int, int, int]] = []
        self.task_added: Callable[..., tuple[Any, Decision]] | None = None
        if self.opt.signal_task_adds:
            self.task_added = getattr(scaler, "task_added", None)

    # ------------------------------------------------------------------ event plumbing
    def _push(self, t: float, kind: int, a: int = 0, b: float = 0.0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, a, b))

    # ------------------------------------------------------------------ worker lifecycle
    def _launch(self) -> None:
        if len(self.alive) >= self.opt.max_workers:
            return
        w = SimWorker(wid=len(self.workers), launched_at=self.now, state=STARTING)
        self.workers.append(w)
        self.alive.add(w.wid)
        self.launches += 1
        delay = float(self.wm.startup.sample(self.rng, 1)[0])
        self._push(self.now + delay, _WORKER_READY, w.wid)
        if self.wm.max_lifetime_s is not None:
            self._push(self.now + self.wm.max_lifetime_s, _LIFETIME, w.wid)

    def _exit(self, w: SimWorker) -> None:
        w.state = EXITED
        w.exited_at = self.now
        if w.stopped_polling_at is None:
            w.stopped_polling_at = self.now
        self.alive.discard(w.wid)

    def _stop_polling(self, w: SimWorker) -> None:
        """Retire ``w`` gracefully: no new tasks; exit once in-flight work is done."""
        if w.state == STARTING:
            self._exit(w)
            return
        if w.state != READY:
            return
        w.state = RETIRING
        w.stopped_polling_at = self.now
        if w.in_flight == 0:
            self._exit(w)

    def _became_idle(self, w: SimWorker) -> None:
        w.idle_since = self.now
        if self.wm.idle_exit_s is not None:
            self._push(self.now + self.wm.idle_exit_s, _IDLE_CHECK, w.wid, self.now)

    # ------------------------------------------------------------------ task flow
    def _start_task(self, task: int, w: SimWorker) -> None:
        self.waits[task] = self.now - self.trace.arrivals[task]
        if self.reports is not None:
            self.reports.record(w, self.now, float(self.waits[task]))
        end = w.task_started(self.now, float(self.trace.durations[task]))
        self.dispatch_rate.hit(self.now)
        self._push(end, _TASK_DONE, w.wid, float(task))

    # ------------------------------------------------------------------ observation
    def _stats(self) -> QueueStats:
        """The queue's stats as the server reports them: the backlog, its age and the rates from
        a copy cached for ``stats_ttl_s``, the pollers listed live."""
        pollers = 0
        for w in self.workers:
            if w.state == READY or (
                w.stopped_polling_at is not None
                and self.now - w.stopped_polling_at < self.sm.poller_history_ttl_s
            ):
                pollers += 1
        if self.cached_stats is None or self.now - self.cached_at >= self.sm.stats_ttl_s:
            age = (
                self.now - float(self.trace.arrivals[self.backlog.oldest()])
                if self.backlog
                else 0.0
            )
            self.cached_stats = QueueStats(
                backlog_count=len(self.backlog),
                backlog_age_s=age,
                add_rate=self.add_rate.read(self.now),
                dispatch_rate=self.dispatch_rate.read(self.now),
            )
            self.cached_at = self.now
        return replace(self.cached_stats, pollers=pollers)

    def census(self) -> WorkerCensus:
        running = ready = in_flight = finished = 0
        task_seconds = running_seconds = 0.0
        polling = []
        for wid in self.alive:
            w = self.workers[wid]
            in_flight += w.in_flight
            finished += w.finished
            task_seconds += w.task_seconds
            running_seconds += w.running_seconds(self.now)
            if w.state in (STARTING, READY):
                running += 1
            if w.state == READY:
                ready += 1
                polling.append(w.load(self.now))
        reports = self.wm.reports_status
        return WorkerCensus(
            running=running,
            ready=ready,
            in_flight=in_flight,
            desired=self.desired,
            slots=self.wm.slots if reports else None,
            mean_task_s=task_seconds / finished if reports and finished else None,
            tasks_finished=finished if reports else 0,
            in_flight_s=running_seconds if reports else None,
            tasks_completed=self.done_count if reports else None,
            schedule_to_start=self.reports.sketch(self.now) if self.reports else None,
            loads=retire_order(polling) if reports else None,
        )

    def metrics(self) -> GroupMetrics:
        stats = self._stats()
        return GroupMetrics(
            stats=stats,
            workers=self.census(),
            observed_at=self.now,
            by_type={self.sm.queue_type: stats},
        )

    # ------------------------------------------------------------------ decisions
    def _execute(self, decision: Decision, action: Action) -> None:
        self.decisions.append((self.now, decision))
        if isinstance(action, Invoke):
            if action.count > 0:
                self.scale_actions += 1
            for _ in range(action.count):
                self._launch()
        elif isinstance(action, Resize | Reconcile):
            self._resize(action.size)
        elif not isinstance(action, NoAction):  # pragma: no cover - Action is a closed union
            raise TypeError(f"unknown action {action!r}")

    def _resize(self, size: int) -> None:
        target = max(0, size)
        if target != self.desired:
            self.scale_actions += 1
        self.desired = target
        active = [self.workers[i] for i in sorted(self.alive)]
        active = [w for w in active if w.state in (STARTING, READY)]
        if target > len(active):
            for _ in range(target - len(active)):
                self._launch()
        elif target < len(active):
            count = len(active) - target
            for w in retirees(active, count, self.now, self.wm.retire_as_reported):
                self._stop_polling(w)

    def _fresh_backlog(self, metrics: GroupMetrics) -> dict[str, int]:
        """The backlog hint, read when the real controller would read it."""
        delay = self.sm.fresh_signal_delay_s
        if delay is None or not needs_fresh_backlog(metrics.by_type, metrics.workers):
            return {}
        arrivals = self.trace.arrivals
        visible = sum(1 for i in self.backlog if self.now - float(arrivals[i]) >= delay)
        return {self.sm.queue_type: visible}

    def _tick(self) -> None:
        metrics = self.metrics()
        observed = Observation(
            census=metrics.workers,
            metrics=metrics,
            wall_time=self.now,
            fresh_backlog=self._fresh_backlog(metrics),
            upcoming_runs=self.schedule.upcoming(self.now),
        )
        plan, _ = plan_cycle(observed, self.intent, self.plan_state, self.now)
        self.plan_state = plan.state
        self._execute(plan.decision, plan.action)

    # ------------------------------------------------------------------ main loop
    def run(self) -> SimResult:
        tr = self.trace
        for i in range(tr.n_tasks):
            self._push(float(tr.arrivals[i]), _ARRIVE, i)
        self._push(0.0, _TICK)
        self._push(0.0, _SAMPLE)
        self.plan_state = GroupState(scaler_state=self.scaler.initial_state(0.0))
        hard_stop = tr.horizon_s + self.opt.max_drain_s
        n = tr.n_tasks
        while self.events:
            t, _, kind, a, b = heapq.heappop(self.events)
            if t > hard_stop:
                break
            # Stop once the trace is over and every task is done: nothing left to measure.
            if t >= tr.horizon_s and self.done_count == n and kind in (_TICK, _SAMPLE):
                self.now = max(self.now, tr.horizon_s)
                break
            self.now = t
            if kind == _ARRIVE:
                self.add_rate.hit(t)
                matched = self.matcher.arrive(a)
                if self.task_added is not None:
                    scaler_state, dec = self.task_added(
                        self.plan_state.scaler_state, t, sync_match=matched
                    )
                    self.plan_state = advance(self.plan_state, scaler_state, dec)
                    if not isinstance(dec, Hold):
                        self._execute(dec, action_for(dec))
            elif kind == _WORKER_READY:
                w = self.workers[a]
                if w.state != STARTING:
                    continue
                w.state = READY
                w.ready_at = t
                self.matcher.slots_freed(w.wid, self.wm.slots)
                if w.in_flight == 0:
                    self._became_idle(w)
            elif kind == _TASK_DONE:
                w = self.workers[a]
                self.completed[int(b)] += 1
                self.done_count += 1
                w.task_finished(t, float(self.trace.durations[int(b)]))
                if w.state == READY:
                    if self.wm.slot_turnaround_s > 0:
                        self._push(t + self.wm.slot_turnaround_s, _SLOT_FREE, w.wid)
                    else:
                        self.matcher.slots_freed(w.wid)
                    if w.in_flight == 0:
                        self._became_idle(w)
                elif w.state == RETIRING and w.in_flight == 0:
                    self._exit(w)
            elif kind == _TICK:
                self._tick()
                self._push(t + self.scaler.poll_interval_s, _TICK)
            elif kind == _IDLE_CHECK:
                w = self.workers[a]
                if w.state == READY and w.in_flight == 0 and w.idle_since == b:
                    self._stop_polling(w)
            elif kind == _LIFETIME:
                self._stop_polling(self.workers[a])
            elif kind == _SLOT_FREE:
                w = self.workers[a]
                if w.state == READY:
                    self.matcher.slots_freed(w.wid)
            elif kind == _FORWARD:
                self.matcher.forward_round()
            elif kind == _SAMPLE:
                busy = sum(self.workers[i].in_flight for i in self.alive)
                ready = sum(1 for i in self.alive if self.workers[i].state == READY)
                self.series.append((t, len(self.backlog), len(self.alive), ready, busy))
                self._push(t + self.opt.sample_every_s, _SAMPLE)
        end = self.now
        billed = bill(self.workers, end)
        s = np.array(self.series, dtype=np.float64).reshape(-1, 5)
        return SimResult(
            trace=tr.name,
            policy=self.policy_name,
            waits=self.waits,
            completed=self.completed,
            worker_seconds=billed.worker_seconds,
            startup_seconds=billed.startup_seconds,
            retiring_seconds=billed.retiring_seconds,
            launches=self.launches,
            scale_actions=self.scale_actions,
            decisions=self.decisions,
            end_time=end,
            series_t=s[:, 0],
            series_backlog=s[:, 1],
            series_workers=s[:, 2],
            series_ready=s[:, 3],
            series_busy=s[:, 4],
            arrivals=tr.arrivals,
        )


def simulate(
    trace: Trace,
    scaler: SimScaler,
    workers: WorkerModel | None = None,
    server: ServerModel | None = None,
    options: SimOptions | None = None,
    policy_name: str = "",
) -> SimResult:
    """Run ``scaler`` against ``trace`` and return the measurements (deterministic per seed)."""
    return Simulation(trace, scaler, workers or WorkerModel(), server, options, policy_name).run()
