"""Calibration: replay one trace for real and in the simulator, and measure the simulator's error.

The real run uses the real parts end to end:

* a Temporal server (the dev server from ``workerplane.temporal.devserver``, or any address);
* the real controller (:class:`workerplane.controller.controller.Controller`, reading a spec file
  through ``FileSpecSource``), running the ``slo`` scaler with the same ``details`` the simulator
  is given;
* the subprocess provider starting ``python -m examples.worker`` processes (worker-set strategy,
  ``slots`` per worker, a preloading fork server);
* one ``ProcessItem`` workflow per task, started at the trace's arrival time; its activity sleeps
  for the task's duration.

What is measured:

* **latency** per task, from the workflow histories: ``WorkflowExecutionStarted`` (the arrival) to
  ``ActivityTaskStarted`` (the work begins). It is split into the workflow-task wait, the workflow
  task's own execution, and the activity's schedule-to-start;
* **worker-seconds**: live worker processes are sampled every ``sample_s`` (by their state dir in
  ``/proc/<pid>/environ``) and integrated over the window ``[0, horizon + drain_s]``;
* **worker startup**: per worker, from its process appearing to its status file saying
  ``polling``.

The simulated run replays the *measured* arrival times and activity run times (so the comparison
is about the scaling model, not the trace), with a worker model fitted to this machine: the
measured startup delays (a lognormal with their mean and log-space spread), the same slots, the
slot turnaround, and the dev server's stats TTL (200 ms) and poller history TTL (3 s). The
simulated queue is the activity queue: ``slo`` sizes a group that serves both task types on its
activity stats (one add per ``ProcessItem``), and its workflow tasks only ask for a poller.
Optionally (``overhead``), the
median workflow-task execution time is added to every simulated wait: the simulator has one hop
(task -> slot), a workflow has two (workflow task, then activity).

This module does I/O by design (it is the bridge to reality); the simulator it drives stays pure.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import Strategy
from workerplane.sim.distributions import Distribution
from workerplane.sim.engine import ServerModel, SimOptions, SimResult, WorkerModel, simulate
from workerplane.sim.traces import Trace

FloatArray = npt.NDArray[np.float64]

#: The repository root (``examples/`` lives there); the worker processes run from it.
REPO_ROOT = Path(__file__).resolve().parents[3]

#: The dev server's stats settings (``workerplane.temporal.devserver.FAST_STATS_CONFIG``).
DEV_STATS_TTL_S = 0.2
DEV_POLLER_HISTORY_TTL_S = 3.0


@dataclass(frozen=True)
class CalibrationConfig:
    """The scaler and worker settings shared by the real and the simulated run.

    Attributes:
        slo_s: the ``slo`` scaler's p95 schedule-to-start SLO.
        max_count: the scaler's ``max_count``.
        slots: task slots per worker (provider ``slots``; simulator ``WorkerModel.slots``).
        poll_interval_ms: the scaler's ``metrics_poll_interval_ms``.
        drain_s: after the trace ends, keep measuring this long (workers scaling down count).
        sample_s: period of the worker-process sampling.
        sim_seeds: the simulator is run with seeds ``0 .. sim_seeds-1`` and the figures averaged.
        overhead: add the measured median workflow-task execution time to simulated waits.
        slots_known: give the scaler ``target_per_worker = slots`` instead of letting it learn
            the slots per worker (removes the learning transient, see docs/policy-lab.md).
        partitions: task-queue partitions of the dev server calibration starts
            (``matching.numTaskqueueRead/WritePartitions``). 1 matches the simulator's single
            first-in, first-out queue; Temporal's default is 4, where tasks land on a random
            partition and pollers take from a random one, so the mean wait is the same but the
            tail is longer (see docs/policy-lab.md).
    """

    slo_s: float = 5.0
    max_count: int = 10
    slots: int = 4
    poll_interval_ms: int = 1000
    drain_s: float = 30.0
    sample_s: float = 0.1
    sim_seeds: int = 5
    overhead: bool = True
    partitions: int = 1
    slots_known: bool = False

    def scaler_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "schedule_to_start_slo_ms": round(self.slo_s * 1000),
            "min_count": 0,
            "max_count": self.max_count,
            "metrics_poll_interval_ms": self.poll_interval_ms,
        }
        if self.slots_known:
            details["target_per_worker"] = self.slots
        return details


def calibration_trace(
    seed: int = 7,
    on_rate: float = 8.0,
    on_s: float = 15.0,
    off_s: float = 25.0,
    n_bursts: int = 3,
    lead_s: float = 5.0,
    task_s: float = 1.0,
) -> Trace:
    """Short on/off bursts of ``task_s`` tasks: ``n_bursts`` x (``on_s`` at ``on_rate``/s, then
    ``off_s`` idle), after ``lead_s`` idle seconds. The default is ~360 tasks over 125 s."""
    rng = np.random.default_rng(seed)
    parts: list[FloatArray] = []
    for b in range(n_bursts):
        start = lead_s + b * (on_s + off_s)
        n = int(rng.poisson(on_rate * on_s))
        parts.append(np.sort(rng.uniform(start, start + on_s, n)))
    arrivals = np.concatenate(parts) if parts else np.empty(0)
    return Trace(
        "calibration",
        arrivals,
        np.full(len(arrivals), float(task_s)),
        lead_s + n_bursts * (on_s + off_s),
        f"{n_bursts} bursts of {on_s:g}s at {on_rate:g}/s, {off_s:g}s off, {task_s:g}s tasks",
    )


@dataclass
class RealRun:
    """What the real run measured (times in seconds from the trace's start).

    Attributes:
        arrivals: each task's ``WorkflowExecutionStarted`` time.
        latency: ``WorkflowExecutionStarted`` -> ``ActivityTaskStarted``.
        wft_wait: ``WorkflowExecutionStarted`` -> first ``WorkflowTaskStarted``.
        wft_exec: first ``WorkflowTaskStarted`` -> ``ActivityTaskScheduled``.
        activity_wait: ``ActivityTaskScheduled`` -> ``ActivityTaskStarted``.
        run_s: ``ActivityTaskStarted`` -> ``ActivityTaskCompleted`` (slot occupancy).
        completed: ``ActivityTaskCompleted`` events per task (conservation: all ones).
        worker_seconds: live worker processes integrated over ``[0, window_s]``.
        window_s: the measurement window (trace horizon + drain).
        startups: per worker, process seen -> status ``polling``.
        turnaround_s: the fitted slot turnaround (:func:`fit_turnaround`).
        peak_workers: the most worker processes alive at once.
        workers_at_end: worker processes alive at the end of the window.
        submit_lag_p95_s: p95 of (workflow start time - planned arrival): how faithfully the
            load was replayed.
        timeline: the controller's view each cycle: ``(t, running, ready, in_flight, backlog,
            add_rate, dispatch_rate, desired, reason)``; also written to ``timeline.json`` in
            the work directory.
    """

    arrivals: FloatArray
    latency: FloatArray
    wft_wait: FloatArray
    wft_exec: FloatArray
    activity_wait: FloatArray
    run_s: FloatArray
    completed: npt.NDArray[np.int64]
    worker_seconds: float
    window_s: float
    startups: FloatArray
    turnaround_s: float
    peak_workers: int
    workers_at_end: int
    submit_lag_p95_s: float
    timeline: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Figures:
    """The compared figures of one run."""

    p50_s: float
    p95_s: float
    worker_seconds: float


@dataclass
class CalibrationReport:
    """Measured vs simulated, with relative errors ((sim - real) / real)."""

    trace: str
    description: str
    n_tasks: int
    config: CalibrationConfig
    real: Figures
    sim: Figures
    sim_raw: Figures
    error: dict[str, float]
    startup_mean_s: float
    startup_sigma: float
    overhead_s: float
    turnaround_s: float
    real_detail: dict[str, float]
    sim_detail: dict[str, float]
    real_completed_once: bool
    sim_completed_once: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def within_target(self) -> bool:
        """Both p95 latency and worker-seconds within 25 % (the issue's target)."""
        return abs(self.error["p95"]) <= 0.25 and abs(self.error["worker_seconds"]) <= 0.25

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["within_target"] = self.within_target
        return out

    def markdown(self) -> str:
        r, s, raw = self.real, self.sim, self.sim_raw

        def pct(x: float) -> str:
            return f"{x * 100:+.0f}%"

        lines = [
            f"Trace `{self.trace}`: {self.description}; {self.n_tasks} tasks. Scaler `slo` "
            f"{json.dumps(self.config.scaler_details())}, worker-set, {self.config.slots} slots "
            f"per worker; measured over trace + {self.config.drain_s:g}s drain.",
            "",
            "| figure | real | simulated | error | simulated, no overhead | error |",
            "|---|---:|---:|---:|---:|---:|",
            f"| p50 latency (s) | {r.p50_s:.2f} | {s.p50_s:.2f} | {pct(self.error['p50'])} "
            f"| {raw.p50_s:.2f} | {pct(self.error['p50_raw'])} |",
            f"| p95 latency (s) | {r.p95_s:.2f} | {s.p95_s:.2f} | {pct(self.error['p95'])} "
            f"| {raw.p95_s:.2f} | {pct(self.error['p95_raw'])} |",
            f"| worker-seconds | {r.worker_seconds:.1f} | {s.worker_seconds:.1f} "
            f"| {pct(self.error['worker_seconds'])} | {raw.worker_seconds:.1f} "
            f"| {pct(self.error['worker_seconds'])} |",
            "",
            f"Simulator fitted to this run: worker startup lognormal(mean "
            f"{self.startup_mean_s:.2f}s, sigma {self.startup_sigma:.2f}); per-task overhead "
            f"(median workflow-task execution) {self.overhead_s * 1000:.0f} ms; slot turnaround "
            f"{self.turnaround_s * 1000:.0f} ms; dev-server stats "
            f"TTL {DEV_STATS_TTL_S:g}s; {self.config.partitions} task-queue partition(s) on the "
            "server. Every task completed exactly once: real "
            f"{'yes' if self.real_completed_once else 'NO'}, simulated "
            f"{'yes' if self.sim_completed_once else 'NO'}.",
            "",
            "Real run detail: "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.real_detail.items())
            + ".",
            "Simulated detail: "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.sim_detail.items())
            + ".",
            "",
            f"Within the 25% target (p95 and worker-seconds): "
            f"**{'yes' if self.within_target else 'no'}**.",
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the real run
def _polling_pids(state: Path) -> set[int]:
    """Pids whose worker status file says ``polling`` right now."""
    from workerplane.worker.status import read_status

    out: set[int] = set()
    for path in state.rglob("*.status"):
        status = read_status(path)
        if status is not None and status.polling:
            out.add(status.pid)
    return out


def _spec(path: Path, queue: str, config: CalibrationConfig, repo_root: Path) -> Path:
    from workerplane.embedded.example import example_worker_group, write_deployment

    group = example_worker_group(
        cwd=repo_root,
        strategy="worker-set",
        slots=config.slots,
        preload=True,
        scaler_type="slo",
        scaler_details=config.scaler_details(),
    )
    return write_deployment(path, name=queue, task_queue=queue, groups={"workers": group})


async def _history_times(client: Any, workflow_id: str) -> dict[str, float | int | str]:
    """Event times (epoch s) of one ProcessItem workflow."""
    from temporalio.api.enums.v1 import EventType

    out: dict[str, float | int | str] = {"completed": 0}
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        t = event.event_time.ToDatetime().timestamp()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            out["arrived"] = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out.setdefault("wft_started", t)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            out.setdefault("act_scheduled", t)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            out.setdefault("act_started", t)
            out.setdefault("identity", event.activity_task_started_event_attributes.identity)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            out["act_completed"] = t
            out["completed"] = int(out["completed"]) + 1
    return out


async def run_real(
    trace: Trace,
    address: str,
    config: CalibrationConfig,
    workdir: Path,
    *,
    repo_root: Path = REPO_ROOT,
    namespace: str = "default",
    task_timeout_s: float = 600.0,
) -> RealRun:
    """Replay ``trace`` against the server at ``address`` with the real controller and subprocess
    workers, and measure latency and worker-seconds (see the module docstring)."""
    from temporalio.client import Client

    from workerplane.controller.controller import Controller, ControllerSettings
    from workerplane.controller.local import FileSpecSource, JsonStatusSink
    from workerplane.providers.subprocess.provider import live_worker_pids

    if not (repo_root / "examples" / "worker.py").is_file():
        raise FileNotFoundError(f"repo_root {repo_root}: examples/worker.py not found")
    queue = f"calib-{uuid.uuid4().hex[:8]}"
    state = workdir / queue
    state.mkdir(parents=True, exist_ok=True)
    spec = _spec(workdir / f"{queue}.yaml", queue, config, repo_root)
    client = await Client.connect(address, namespace=namespace)
    timeline: list[tuple[Any, ...]] = []
    t0 = math.inf

    def on_cycle(statuses: list[Any]) -> None:
        for st in statuses:
            timeline.append(
                (
                    round(time.time() - t0, 3),
                    st.workers_running,
                    st.workers_ready,
                    st.in_flight,
                    st.backlog,
                    round(st.add_rate, 3),
                    round(st.dispatch_rate, 3),
                    st.desired,
                    st.last_reason,
                )
            )

    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(state_dir=state, address=address, namespace=namespace),
        on_cycle=on_cycle,
    )
    stop = asyncio.Event()
    ctl_task = asyncio.create_task(controller.run(stop))
    await asyncio.sleep(1.0)  # the controller has seen the idle queue

    window_s = trace.horizon_s + config.drain_s
    t0 = time.time() + 0.5
    first_seen: dict[int, float] = {}
    last_seen: dict[int, float] = {}
    polling_at: dict[int, float] = {}
    worker_seconds = 0.0
    peak = 0
    alive_at_end = 0
    marker = str(state)

    async def sample() -> None:
        nonlocal worker_seconds, peak, alive_at_end
        last = time.time()
        while True:
            await asyncio.sleep(config.sample_s)
            now = time.time()
            pids = await asyncio.to_thread(live_worker_pids, marker)
            polling = await asyncio.to_thread(_polling_pids, state)
            for pid in pids:
                first_seen.setdefault(pid, now)
                last_seen[pid] = now
                if pid in polling:
                    polling_at.setdefault(pid, now)
            # Integrate only inside the window [t0, t0 + window_s].
            lo, hi = max(last, t0), min(now, t0 + window_s)
            if hi > lo:
                worker_seconds += len(pids) * (hi - lo)
            if now >= t0:
                peak = max(peak, len(pids))
            if now >= t0 + window_s:
                alive_at_end = len(pids)
                return
            last = now

    sampler = asyncio.create_task(sample())
    planned: list[float] = []
    starts: list[asyncio.Task[Any]] = []
    ids = [f"{queue}-{i}" for i in range(trace.n_tasks)]
    try:
        for i in range(trace.n_tasks):
            at = t0 + float(trace.arrivals[i])
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            planned.append(at)
            starts.append(
                asyncio.create_task(
                    client.start_workflow(
                        "ProcessItem", float(trace.durations[i]), id=ids[i], task_queue=queue
                    )
                )
            )
        handles = await asyncio.gather(*starts)
        await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=task_timeout_s
        )
        await sampler
    finally:
        if not sampler.done():
            sampler.cancel()
        stop.set()
        with contextlib.suppress(Exception):
            await ctl_task
        await controller.shutdown(drain=True)

    times = [await _history_times(client, wid) for wid in ids]
    timeline = [row for row in timeline if math.isfinite(row[0])]
    (workdir / "timeline.json").write_text(json.dumps(timeline, indent=0))
    (workdir / "real_run.json").write_text(
        json.dumps(
            {
                "t0": t0,
                "tasks": times,
                "workers": {
                    str(pid): [seen - t0, last_seen[pid] - t0, polling_at.get(pid, math.nan) - t0]
                    for pid, seen in first_seen.items()
                },
            }
        )
    )

    def col(a: str, b: str) -> FloatArray:
        return np.array(
            [float(t[b]) - float(t[a]) if a in t and b in t else math.nan for t in times]
        )

    arrived = np.array([float(t.get("arrived", math.nan)) for t in times])
    lag = arrived - np.array(planned)
    startups = np.array(
        [polling_at[p] - first_seen[p] for p in polling_at if p in first_seen], dtype=float
    )
    return RealRun(
        arrivals=arrived - t0,
        latency=col("arrived", "act_started"),
        wft_wait=col("arrived", "wft_started"),
        wft_exec=col("wft_started", "act_scheduled"),
        activity_wait=col("act_scheduled", "act_started"),
        run_s=col("act_started", "act_completed"),
        completed=np.array([int(t["completed"]) for t in times], dtype=np.int64),
        worker_seconds=worker_seconds,
        window_s=window_s,
        startups=startups,
        turnaround_s=fit_turnaround(times, config.slots),
        peak_workers=peak,
        workers_at_end=alive_at_end,
        submit_lag_p95_s=float(np.nanpercentile(lag, 95)) if len(lag) else 0.0,
        timeline=timeline,
    )


# ---------------------------------------------------------------------------- the simulated run
def fit_turnaround(tasks: list[dict[str, Any]], slots: int) -> float:
    """The median time a full worker's slot took from one activity's completion to the worker's
    next activity start, while tasks waited: completing, polling again and the worker's other
    work (its workflow tasks, on a shared CPU) cost slot time that the run time does not show.

    ``tasks`` are per-task event times with the starting worker's ``identity``; 0 when no
    completion happened on a full worker with tasks waiting.
    """
    keys = ("identity", "act_scheduled", "act_started", "act_completed")
    acts = [t for t in tasks if all(k in t for k in keys)]
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for t in acts:
        by_worker.setdefault(str(t["identity"]), []).append(
            (float(t["act_started"]), float(t["act_completed"]))
        )
    waits = [(float(t["act_scheduled"]), float(t["act_started"])) for t in acts]
    gaps: list[float] = []
    for runs in by_worker.values():
        starts = sorted(s for s, _ in runs)
        for _, done in runs:
            busy = sum(1 for s, c in runs if s <= done <= c)
            if busy < slots or not any(sch < done < st for sch, st in waits):
                continue
            i = bisect.bisect_left(starts, done)
            if i < len(starts) and starts[i] - done < 2.0:
                gaps.append(starts[i] - done)
    return float(np.median(gaps)) if gaps else 0.0


def fit_startup(startups: FloatArray) -> Distribution:
    """A lognormal with the measured mean and log-space spread (2 s, sigma 0.4 if none measured)."""
    x = startups[np.isfinite(startups) & (startups > 0)]
    if len(x) == 0:
        return Distribution.lognormal(2.0, 0.4)
    sigma = float(np.std(np.log(x))) if len(x) > 1 else 0.3
    return Distribution.lognormal(float(np.mean(x)), max(sigma, 0.05))


def replayed_trace(real: RealRun, planned: Trace, drain_s: float) -> Trace:
    """The trace as the real run saw it: measured arrivals and activity run times, with the
    horizon extended by ``drain_s`` (the simulator bills workers up to the same window)."""
    arr = np.where(np.isfinite(real.arrivals), real.arrivals, planned.arrivals)
    dur = np.where(np.isfinite(real.run_s), real.run_s, planned.durations)
    order = np.argsort(arr, kind="stable")
    return Trace(
        planned.name,
        np.maximum(arr[order], 0.0),
        dur[order],
        planned.horizon_s + drain_s,
        planned.description,
    )


def run_sim(
    trace: Trace,
    config: CalibrationConfig,
    startup: Distribution,
    seed: int = 0,
    turnaround_s: float = 0.0,
) -> SimResult:
    """The same scaler (built by the registry from the same details) in the simulator."""
    scaler = build_scaler("slo", config.scaler_details(), Strategy.WORKER_SET)
    return simulate(
        trace,
        scaler,
        WorkerModel(startup=startup, slots=config.slots, slot_turnaround_s=turnaround_s),
        ServerModel(
            stats_ttl_s=DEV_STATS_TTL_S,
            poller_history_ttl_s=DEV_POLLER_HISTORY_TTL_S,
        ),
        SimOptions(seed=seed, max_drain_s=600.0, sample_every_s=0.5),
        policy_name="workerplane-slo",
    )


def _pct(x: FloatArray, q: float) -> float:
    x = np.where(np.isnan(x), np.inf, x)
    return float(np.percentile(x, q, method="higher")) if len(x) else 0.0


def compare(real: RealRun, planned: Trace, config: CalibrationConfig) -> CalibrationReport:
    """Simulate the replayed trace with the fitted worker model and compare with ``real``."""
    startup = fit_startup(real.startups)
    overhead = float(np.nanmedian(real.wft_exec)) if len(real.wft_exec) else 0.0
    trace = replayed_trace(real, planned, config.drain_s)
    p50 = p95 = p50r = p95r = ws = 0.0
    sims = [
        run_sim(trace, config, startup, seed, real.turnaround_s) for seed in range(config.sim_seeds)
    ]
    for res in sims:
        p50r += res.percentile(50)
        p95r += res.percentile(95)
        waits = res.waits + (overhead if config.overhead else 0.0)
        p50 += _pct(waits, 50)
        p95 += _pct(waits, 95)
        ws += res.worker_seconds
    n = len(sims)
    sim = Figures(p50 / n, p95 / n, ws / n)
    sim_raw = Figures(p50r / n, p95r / n, ws / n)
    real_fig = Figures(_pct(real.latency, 50), _pct(real.latency, 95), real.worker_seconds)

    def err(s: float, r: float) -> float:
        return (s - r) / r if r > 0 else (0.0 if s == 0 else math.inf)

    first = sims[0]
    return CalibrationReport(
        trace=planned.name,
        description=planned.description,
        n_tasks=planned.n_tasks,
        config=config,
        real=real_fig,
        sim=sim,
        sim_raw=sim_raw,
        error={
            "p50": err(sim.p50_s, real_fig.p50_s),
            "p95": err(sim.p95_s, real_fig.p95_s),
            "p50_raw": err(sim_raw.p50_s, real_fig.p50_s),
            "p95_raw": err(sim_raw.p95_s, real_fig.p95_s),
            "worker_seconds": err(sim.worker_seconds, real_fig.worker_seconds),
        },
        startup_mean_s=startup.mean,
        startup_sigma=startup.sigma,
        overhead_s=overhead,
        turnaround_s=real.turnaround_s,
        real_detail={
            "workers started": float(len(real.startups)),
            "peak workers": float(real.peak_workers),
            "workers alive at end": float(real.workers_at_end),
            "p95 workflow-task wait (s)": _pct(real.wft_wait, 95),
            "p95 activity wait (s)": _pct(real.activity_wait, 95),
            "median activity run (s)": float(np.nanmedian(real.run_s)),
            "p95 submit lag (s)": real.submit_lag_p95_s,
        },
        sim_detail={
            "workers started (seed 0)": float(first.launches),
            "peak workers (seed 0)": float(np.max(first.series_workers, initial=0.0)),
            "scale actions (seed 0)": float(first.scale_actions),
        },
        real_completed_once=bool(np.all(real.completed == 1)),
        sim_completed_once=all(bool(np.all(r.completed == 1)) for r in sims),
    )


def summary_markdown(reports: list[CalibrationReport]) -> str:
    """One row per real run and the median: the real system varies from run to run (CPU
    contention on a small machine moves worker startups and the controller's timing), so the
    simulator's error is judged on the median of several runs, and every run is shown."""

    def pct(x: float) -> str:
        return f"{x * 100:+.0f}%"

    lines = [
        "| run | real p95 | sim p95 | error | real worker-s | sim worker-s | error | within 25 % |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, rep in enumerate(reports, 1):
        lines.append(
            f"| {i} | {rep.real.p95_s:.2f} s | {rep.sim.p95_s:.2f} s | {pct(rep.error['p95'])} "
            f"| {rep.real.worker_seconds:.1f} | {rep.sim.worker_seconds:.1f} "
            f"| {pct(rep.error['worker_seconds'])} | {'yes' if rep.within_target else 'no'} |"
        )
    p95 = float(np.median([r.error["p95"] for r in reports]))
    ws = float(np.median([r.error["worker_seconds"] for r in reports]))
    ok = abs(p95) <= 0.25 and abs(ws) <= 0.25
    lines.append(
        f"| **median** | | | **{pct(p95)}** | | | **{pct(ws)}** | **{'yes' if ok else 'no'}** |"
    )
    within = sum(r.within_target for r in reports)
    lines += ["", f"{within} of {len(reports)} runs within ±25 % on both figures."]
    return "\n".join(lines)


async def calibrate(
    trace: Trace,
    config: CalibrationConfig | None = None,
    *,
    address: str | None = None,
    workdir: Path | None = None,
    repo_root: Path = REPO_ROOT,
) -> tuple[CalibrationReport, RealRun]:
    """Run ``trace`` for real (starting an in-memory dev server unless ``address`` is given) and in
    the simulator, and compare."""
    config = config or CalibrationConfig()
    base = workdir or Path(tempfile.mkdtemp(prefix="wp-calib-"))
    server = None
    if address is None:
        from workerplane.temporal.devserver import start_dev_server

        partitions = str(config.partitions)
        server = start_dev_server(
            in_memory=True,
            log_file=base / "server.log",
            extra_config={
                "matching.numTaskqueueReadPartitions": partitions,
                "matching.numTaskqueueWritePartitions": partitions,
            },
        )
        address = server.address
    try:
        real = await run_real(trace, address, config, base, repo_root=repo_root)
    finally:
        if server is not None:
            server.stop()
    return compare(real, trace, config), real


__all__ = [
    "CalibrationConfig",
    "CalibrationReport",
    "Figures",
    "RealRun",
    "calibrate",
    "calibration_trace",
    "compare",
    "fit_startup",
    "fit_turnaround",
    "replayed_trace",
    "run_real",
    "run_sim",
    "summary_markdown",
]
