"""Benchmark: workerplane against Temporal's own worker controller, on the same Lambda handler.

Both drive the SAME real handler (``examples/lambda/handler.py``, which runs
``workerplane.worker.aws_lambda``: 4 slots, exits after 3 s idle) run by serverless-offline on
loopback, on the same embedded dev server, through the same
:class:`tests.worker.lambda_proxy.LambdaApiProxy` (which counts invokes):

* ``temporal``: the server's own controller (``aws-lambda`` provider, ``no-sync`` scaler at its
  fastest ``metrics_poll_interval_ms`` of 10000, its other keys at their defaults) for a worker
  deployment version created and made current through Temporal's API. Its invokes are
  ``InvocationType=Event`` with an empty payload; the function's environment names the queue and
  version. The server's bootstrap invoke (one, at version creation) is left out of the figures:
  each run waits for it to return before the first workflow starts. It leaves one warm sandbox.
* ``workerplane``: ``workerplane run -f spec.yaml`` (a subprocess) with the ``aws-lambda``
  provider and the ``backlog`` scaler (``target_per_worker`` 4, ``metrics_poll_interval_ms`` 500,
  ``max_count`` 25), on an unversioned queue; its invokes carry the settings in the payload.
  ``--scaler slo`` runs the product's default scaler instead (``slo`` at its default 5 s SLO,
  ``target_per_worker`` 4, ``max_count`` 25, its other keys at their defaults).
  For parity with Temporal's bootstrap, the bench invokes the function once before the run and
  waits for it to return, so both start with one warm sandbox.

Every run gets a fresh queue and a fresh serverless-offline (cold sandboxes). Scenarios: 40 and
200 ``ProcessItem`` workflows (a 1 s activity) started one after another and all at once, and two
waves of 40 started 90 s apart. Printed per scenario and driver: first task started (s after the
first StartWorkflow, from the histories), makespan (first StartWorkflow -> last close), invokes,
billed handler-seconds (the sum of the handlers' run times) and retries (activity attempts > 1),
then the ratios workerplane / Temporal.

The server runs the dev server's fast stats unless ``--server-defaults`` keeps Temporal's default
stats cache (about 5 s), as production servers and Temporal Cloud run; Temporal's controller
settings (``tests.worker.lambda_proxy.TEMPORAL_CONTROLLER_CONFIG``) apply either way.

    .venv/bin/python bench/vs_temporal.py [--quick] [--only 40-at-once ...] [--server-defaults]
        [--repeat 3]

One run per driver and scenario is one draw: Temporal's own controller used 7 invokes for 40
workflows at once in one run and 12 in another. ``--repeat N`` runs each N times (the drivers
taking turns going first) and reports the medians, and each run's billed ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402

from examples.app import ProcessItem  # noqa: E402
from tests.worker.lambda_offline import LambdaOffline, lambda_offline  # noqa: E402
from tests.worker.lambda_proxy import (  # noqa: E402
    LambdaApiProxy,
    create_current_version,
    function_environment,
    new_version_names,
    temporal_controller_server,
    temporal_lambda_compute,
)

ACTIVITY_S = 1.0
SLOTS = 4
IDLE_EXIT_S = 3.0
LAMBDA_TIMEOUT_S = 60
WORKERPLANE_MAX = 25
DRIVERS = ("temporal", "workerplane")


@dataclass(frozen=True)
class Wave:
    at_s: float
    count: int
    all_at_once: bool


SCENARIOS: dict[str, tuple[Wave, ...]] = {
    "40-sequential": (Wave(0, 40, False),),
    "40-at-once": (Wave(0, 40, True),),
    "200-sequential": (Wave(0, 200, False),),
    "200-at-once": (Wave(0, 200, True),),
    "2x40-90s-apart": (Wave(0, 40, True), Wave(90, 40, True)),
}
QUICK: dict[str, tuple[Wave, ...]] = {"5-at-once": (Wave(0, 5, True),)}


@dataclass(frozen=True)
class Row:
    first_task_s: float
    makespan_s: float
    invokes: int
    billed_s: float
    retries: int
    idle_handlers: int
    retry_causes: dict[str, int] = field(default_factory=dict)


async def _start_waves(client: Client, queue: str, waves: tuple[Wave, ...]) -> list[Any]:
    """Start every wave at its offset; returns the handles (the first call opens the clock)."""
    t0 = time.monotonic()
    handles: list[WorkflowHandle[Any, Any]] = []
    for wave in waves:
        await asyncio.sleep(max(0.0, t0 + wave.at_s - time.monotonic()))

        async def one() -> WorkflowHandle[Any, Any]:
            return await client.start_workflow(
                ProcessItem.run, ACTIVITY_S, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
            )

        if wave.all_at_once:
            handles += await asyncio.gather(*(one() for _ in range(wave.count)))
        else:
            handles += [await one() for _ in range(wave.count)]
    await asyncio.gather(*(h.result() for h in handles))
    return handles


async def _history_figures(handles: list[Any], t0: float) -> tuple[float, float, list[str]]:
    """(first task started, makespan, why each retry happened), from the workflows' histories
    (wall clock). A retry's cause is the failure its attempt carries (e.g. a heartbeat timeout:
    the worker that held the previous attempt went away)."""
    first, last, retry_causes = float("inf"), 0.0, []
    for handle in handles:
        history = await handle.fetch_history()
        for event in history.events:
            at = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                first = min(first, at)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    retry_causes.append(started.last_failure.message or "?")
            last = max(last, at)
    return first - t0, last - t0, retry_causes


def _wait_handlers(offline: LambdaOffline, count: int, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while len(offline.results()) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return offline.results()


async def _measure(
    client: Client, proxy: LambdaApiProxy, offline: LambdaOffline, queue: str, waves: Any
) -> Row:
    offline.reset()
    proxy.reset()
    t0 = time.time()
    handles = await _start_waves(client, queue, waves)
    first, makespan, retry_causes = await _history_figures(handles, t0)
    invokes = len(proxy.invoke_times())
    runs = _wait_handlers(offline, invokes, LAMBDA_TIMEOUT_S + 30)
    return Row(
        first_task_s=round(first, 2),
        makespan_s=round(makespan, 1),
        invokes=invokes,
        billed_s=round(sum(r["runtime_s"] for r in runs), 1),
        retries=len(retry_causes),
        retry_causes=dict(Counter(retry_causes)),
        idle_handlers=sum(1 for r in runs if r["completed"] == 0),
    )


async def run_temporal(address: str, proxy: LambdaApiProxy, waves: Any, workdir: Path) -> Row:
    queue, deployment, build_id = new_version_names("vs-temporal")
    env = function_environment(address, queue, deployment, build_id)
    with lambda_offline(workdir, idle_exit_s=IDLE_EXIT_S, slots=SLOTS, extra_env=env) as offline:
        proxy.upstream = offline.endpoint
        client = await Client.connect(address)
        await create_current_version(
            client, deployment, build_id, temporal_lambda_compute(proxy.arn)
        )
        _wait_handlers(offline, 1, LAMBDA_TIMEOUT_S)  # the bootstrap invoke returns first
        return await _measure(client, proxy, offline, queue, waves)


def _workerplane_spec(queue: str, endpoint: str, scaler_type: str) -> dict[str, Any]:
    details = {
        "arn": "workerplane-worker-dev-worker",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "aws_access_key_id": "offline",
        "aws_secret_access_key": "offline",
        "check_function": False,
        "max_concurrency": WORKERPLANE_MAX,
        "slots": SLOTS,  # what the handler runs, as the provider's docs ask
        "worker_ttl_s": LAMBDA_TIMEOUT_S - 13,  # the handler's polling lifetime (deadline buffer)
    }
    scaler: dict[str, Any] = {"max_count": WORKERPLANE_MAX, "target_per_worker": SLOTS}
    if scaler_type == "backlog":
        scaler["metrics_poll_interval_ms"] = 500
    group = {
        "provider": {"type": "aws-lambda", "details": details},
        "scaler": {"type": scaler_type, "details": scaler},
    }
    return {"name": queue, "task_queue": queue, "compute": {"scaling_groups": {"lambda": group}}}


def _warm_one_sandbox(
    proxy: LambdaApiProxy, offline: LambdaOffline, address: str, queue: str
) -> None:
    """One invoke with workerplane's payload, as Temporal's bootstrap does; waits for its return."""
    env = {"TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": queue}
    body = json.dumps({"workerplane": {"invocation_id": "warm-up", "env": env}})
    connection = http.client.HTTPConnection(proxy.endpoint.split("//")[1], timeout=30)
    connection.request(
        "POST",
        "/2015-03-31/functions/workerplane-worker-dev-worker/invocations",
        body=body,
        headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"},
    )
    connection.getresponse().read()
    connection.close()
    _wait_handlers(offline, 1, LAMBDA_TIMEOUT_S)


async def run_workerplane(
    address: str, proxy: LambdaApiProxy, waves: Any, workdir: Path, scaler_type: str
) -> Row:
    queue = f"vs-wp-{uuid.uuid4().hex[:8]}"
    spec = workdir / "spec.yaml"
    spec.write_text(yaml.safe_dump(_workerplane_spec(queue, proxy.endpoint, scaler_type)))
    state = workdir / "state"
    with lambda_offline(workdir, idle_exit_s=IDLE_EXIT_S, slots=SLOTS) as offline:
        proxy.upstream = offline.endpoint
        _warm_one_sandbox(proxy, offline, address, queue)
        command = [sys.executable, "-m", "workerplane.cli.main", "run", "-f", str(spec)]
        command += ["--address", address, "--state-dir", str(state)]
        with (workdir / "workerplane.log").open("wb") as log:
            controller = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not (state / "status.json").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            client = await Client.connect(address)
            return await _measure(client, proxy, offline, queue, waves)
        finally:
            controller.send_signal(signal.SIGINT)
            try:
                controller.wait(timeout=30)
            except subprocess.TimeoutExpired:
                controller.kill()
                controller.wait()


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def report(results: dict[str, dict[str, Row]]) -> str:
    columns = ("first task s", "makespan s", "invokes", "billed s", "retries", "idle")
    lines = [
        f"| scenario | driver | {' | '.join(columns)} |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for scenario, rows in results.items():
        for driver, row in rows.items():
            cells: tuple[float, ...] = (row.first_task_s, row.makespan_s, row.invokes)
            cells += (row.billed_s, row.retries, row.idle_handlers)
            lines.append(f"| {scenario} | {driver} | {' | '.join(map(str, cells))} |")
        if len(rows) == len(DRIVERS):
            wp, tc = rows["workerplane"], rows["temporal"]
            ratios = (
                _ratio(wp.first_task_s, tc.first_task_s),
                _ratio(wp.makespan_s, tc.makespan_s),
                _ratio(wp.invokes, tc.invokes),
                _ratio(wp.billed_s, tc.billed_s),
                f"{wp.retries} / {tc.retries}",
                f"{wp.idle_handlers} / {tc.idle_handlers}",
            )
            lines.append(f"| {scenario} | workerplane / Temporal | {' | '.join(ratios)} |")
    return "\n".join(lines)


def median_row(rows: list[Row]) -> Row:
    """Each figure's median over repeated runs (retry causes summed)."""
    causes: Counter[str] = Counter()
    for row in rows:
        causes.update(row.retry_causes)
    return Row(
        first_task_s=statistics.median(r.first_task_s for r in rows),
        makespan_s=statistics.median(r.makespan_s for r in rows),
        invokes=round(statistics.median(r.invokes for r in rows)),
        billed_s=round(statistics.median(r.billed_s for r in rows), 1),
        retries=round(statistics.median(r.retries for r in rows)),
        idle_handlers=round(statistics.median(r.idle_handlers for r in rows)),
        retry_causes=dict(causes),
    )


async def main_async(
    scenarios: dict[str, tuple[Wave, ...]],
    workdir: Path,
    drivers: tuple[str, ...] = DRIVERS,
    scaler_type: str = "backlog",
    fast_stats: bool = True,
    repeat: int = 1,
) -> dict[str, dict[str, list[Row]]]:
    """Every run's row, per scenario and driver. With ``repeat`` > 1 the drivers take turns
    going first, so a drift of the machine over the runs weighs on both alike."""
    proxy = LambdaApiProxy(timeout_s=LAMBDA_TIMEOUT_S)
    proxy.start()
    results: dict[str, dict[str, list[Row]]] = {}
    try:
        with temporal_controller_server(proxy, workdir, fast_stats=fast_stats) as server:
            for name, waves in scenarios.items():
                results[name] = {driver: [] for driver in drivers}
                for run in range(repeat):
                    order = drivers if run % 2 == 0 else tuple(reversed(drivers))
                    for driver in order:
                        rundir = workdir / f"{name}-{driver}-{run}"
                        rundir.mkdir()
                        if driver == "temporal":
                            row = await run_temporal(server.address, proxy, waves, rundir)
                        else:
                            row = await run_workerplane(
                                server.address, proxy, waves, rundir, scaler_type
                            )
                        results[name][driver].append(row)
                        print(f"{name:16} {driver:12} {asdict(row)}", flush=True)
    finally:
        proxy.stop()
    return results


def billed_ratios(results: dict[str, dict[str, list[Row]]]) -> str:
    """Each run's billed ratio workerplane / Temporal, per scenario (runs paired in order)."""
    lines = []
    for scenario, rows in results.items():
        if len(rows) == len(DRIVERS):
            pairs = zip(rows["workerplane"], rows["temporal"], strict=True)
            lines.append(
                f"{scenario}: " + ", ".join(_ratio(w.billed_s, t.billed_s) for w, t in pairs)
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small scenario (smoke run)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="these scenarios")
    parser.add_argument("--driver", choices=DRIVERS, help="run only this driver (no ratios)")
    parser.add_argument(
        "--scaler", choices=("backlog", "slo"), default="backlog", help="workerplane's scaler"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per scenario and driver; medians reported"
    )
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="Temporal's default stats cache (5 s) instead of the dev server's fast stats",
    )
    args = parser.parse_args()
    scenarios = QUICK if args.quick else SCENARIOS
    if args.only:
        scenarios = {name: SCENARIOS[name] for name in args.only}
    workdir = Path(tempfile.mkdtemp(prefix="wp-vs-temporal-"))
    print(f"workdir {workdir}", flush=True)
    drivers = (args.driver,) if args.driver else DRIVERS
    stats = "Temporal's default (5 s cache)" if args.server_defaults else "fast (dev server)"
    print(f"workerplane scaler: {args.scaler}; server stats: {stats}", flush=True)
    runs = asyncio.run(
        main_async(
            scenarios,
            workdir,
            drivers,
            args.scaler,
            fast_stats=not args.server_defaults,
            repeat=max(1, args.repeat),
        )
    )
    results = {s: {d: median_row(rows) for d, rows in by.items()} for s, by in runs.items()}
    print()
    if args.repeat > 1:
        print(f"medians of {args.repeat} runs per driver; billed ratio per run:")
        print(billed_ratios(runs))
        print()
    print(report(results))
    print(
        json.dumps(
            {s: {d: [asdict(r) for r in rows] for d, rows in by.items()} for s, by in runs.items()}
        )
    )
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


if __name__ == "__main__":
    main()
