"""The real half of a calibration: replay one trace against a Temporal server and measure it.

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
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import REPO_ROOT, example_worker_group, write_deployment
from workerplane.lab.calibration import CalibrationConfig
from workerplane.planning.status import GroupStatus
from workerplane.providers.subprocess.procfs import live_worker_pids
from workerplane.sim.traces import FloatArray, Trace
from workerplane.temporal.connection import connect, resolve_connection
from workerplane.worker.status import read_status


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
        first_hop_polled: the first hop (workflow-task wait + execution) of each task that
            arrived while a worker was polling: the per-task delay before its activity is
            scheduled that the simulator's single hop does not have.
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
    first_hop_polled: FloatArray
    peak_workers: int
    workers_at_end: int
    submit_lag_p95_s: float
    timeline: list[tuple[Any, ...]] = field(default_factory=list)


def _polling_pids(state: Path) -> set[int]:
    """Pids whose worker status file says ``polling`` right now."""
    out: set[int] = set()
    for path in state.rglob("*.status"):
        status = read_status(path)
        if status is not None and status.polling:
            out.add(status.pid)
    return out


def _spec(path: Path, queue: str, config: CalibrationConfig, repo_root: Path) -> Path:
    group = example_worker_group(
        cwd=repo_root,
        strategy="worker-set",
        slots=config.slots,
        preload=True,
        scaler_type="slo",
        scaler_details=config.scaler_details(),
    )
    return write_deployment(path, name=queue, task_queue=queue, groups={"workers": group})


async def history_times(client: Client, workflow_id: str) -> dict[str, float | int | str]:
    """Event times (epoch s) of one ProcessItem workflow."""
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
    if not (repo_root / "examples" / "worker.py").is_file():
        raise FileNotFoundError(f"repo_root {repo_root}: examples/worker.py not found")
    queue = f"calib-{uuid.uuid4().hex[:8]}"
    state = workdir / queue
    state.mkdir(parents=True, exist_ok=True)
    spec = _spec(workdir / f"{queue}.yaml", queue, config, repo_root)
    client = await connect(resolve_connection(address=address, namespace=namespace))
    timeline: list[tuple[Any, ...]] = []
    t0 = math.inf

    def on_cycle(statuses: list[GroupStatus]) -> None:
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
        # A calibration measures reaction at the poll interval, sampled finely: idle groups are
        # read as often as active ones, and status goes out five times a second.
        ControllerSettings(
            state_dir=state,
            address=address,
            namespace=namespace,
            idle_read_interval_s=0.0,
            publish_interval_s=0.2,
        ),
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

    times = [await history_times(client, wid) for wid in ids]
    timeline = [row for row in timeline if math.isfinite(row[0])]
    (workdir / "timeline.json").write_text(json.dumps(timeline, indent=0))
    record = {
        "t0": t0,
        "planned": planned,
        "tasks": times,
        "workers": {
            str(pid): [seen - t0, last_seen[pid] - t0, polling_at.get(pid, math.nan) - t0]
            for pid, seen in first_seen.items()
        },
        "worker_seconds": worker_seconds,
        "window_s": window_s,
        "peak_workers": peak,
        "workers_at_end": alive_at_end,
        "slots": config.slots,
    }
    (workdir / "real_run.json").write_text(json.dumps(record))
    return measured(record, timeline)


def measured(record: dict[str, Any], timeline: list[tuple[Any, ...]] | None = None) -> RealRun:
    """The :class:`RealRun` of a run's raw record (what ``real_run.json`` holds), so a saved run
    can be compared with the simulator again offline."""
    times: list[dict[str, Any]] = record["tasks"]
    t0 = float(record["t0"])

    def col(a: str, b: str) -> FloatArray:
        return np.array(
            [float(t[b]) - float(t[a]) if a in t and b in t else math.nan for t in times]
        )

    arrived = np.array([float(t.get("arrived", math.nan)) for t in times])
    lag = arrived - np.array(record["planned"], dtype=float)
    workers = np.array(list(record["workers"].values()), dtype=float).reshape(-1, 3)
    startups = workers[:, 2] - workers[:, 0]
    polled = np.array(
        [np.any((workers[:, 2] <= a - t0) & (a - t0 <= workers[:, 1])) for a in arrived]
    )
    first_hop = col("arrived", "wft_started") + col("wft_started", "act_scheduled")
    return RealRun(
        arrivals=arrived - t0,
        latency=col("arrived", "act_started"),
        wft_wait=col("arrived", "wft_started"),
        wft_exec=col("wft_started", "act_scheduled"),
        activity_wait=col("act_scheduled", "act_started"),
        run_s=col("act_started", "act_completed"),
        completed=np.array([int(t["completed"]) for t in times], dtype=np.int64),
        worker_seconds=float(record["worker_seconds"]),
        window_s=float(record["window_s"]),
        startups=startups[np.isfinite(startups)],
        turnaround_s=fit_turnaround(times, int(record["slots"])),
        first_hop_polled=first_hop[polled & np.isfinite(first_hop)],
        peak_workers=int(record["peak_workers"]),
        workers_at_end=int(record["workers_at_end"]),
        submit_lag_p95_s=float(np.nanpercentile(lag, 95)) if len(lag) else 0.0,
        timeline=timeline or [],
    )


def fit_turnaround(tasks: list[dict[str, Any]], slots: int) -> float:
    """The mean time a full worker's slot took from one activity's completion to the worker's
    next activity start, while tasks waited: completing, polling again and the worker's other
    work (its workflow tasks, on a shared CPU) cost slot time that the run time does not show.
    The mean, because a slot's throughput follows it: with several task-queue partitions the
    gap is skewed (a poll that lands on an empty partition waits to be forwarded; 19 ms median,
    54 ms mean in one calibration run), and the median would overstate the capacity.

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
    return float(np.mean(gaps)) if gaps else 0.0
