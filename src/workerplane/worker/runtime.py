"""Run a user's Temporal worker as a good citizen of an autoscaled fleet.

``run_worker`` builds the client and one ``temporalio`` Worker per task queue from the environment
that workerplane's providers set (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_TASK_QUEUE``, ``TEMPORAL_DEPLOYMENT_NAME``, ``TEMPORAL_WORKER_BUILD_ID``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``), and then:

* exits by itself once it has been idle (nothing in flight, nothing received) for ``idle_exit_s``,
  or at ``max_lifetime_s``;
* on SIGTERM/SIGINT stops polling and lets in-flight activities finish within
  ``graceful_shutdown_s``; with ``WORKERPLANE_QUIET_RETIREMENT`` (opt-in), first lets the polls
  it has open bring their tasks while tasks still reach it (:mod:`workerplane.worker.poll_gate`);
* keeps a status file (``WORKERPLANE_STATUS_FILE``) saying whether it polls and how much work it
  holds, so providers can retire idle workers first and readiness probes need no HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import (
    FixedSizeSlotSupplier,
    Worker,
    WorkerDeploymentConfig,
    WorkerTuner,
)

from workerplane.worker.heartbeats import heartbeat_runtime
from workerplane.worker.identity import marked_identity
from workerplane.worker.interceptor import ScheduleToStartInterceptor, status_of
from workerplane.worker.poll_gate import (
    QUIET_RETIREMENT_ENV,
    PollGate,
    quiet_retirement_setting,
    server_completes_polls,
)
from workerplane.worker.push import SketchPusher
from workerplane.worker.status import HEARTBEAT_S, STATUS_FILE_ENV, write_status
from workerplane.worker.tracking import CountingInterceptor, CountingWorkflowRunner, WorkTracker

logger = logging.getLogger("workerplane.worker")

IDLE_EXIT_ENV = "WORKERPLANE_IDLE_EXIT_S"
MAX_LIFETIME_ENV = "WORKERPLANE_MAX_LIFETIME_S"
GRACEFUL_SHUTDOWN_ENV = "WORKERPLANE_GRACEFUL_SHUTDOWN_S"
SLOTS_ENV = "WORKERPLANE_SLOTS"
CONTROLLER_LEASE_ENV = "WORKERPLANE_CONTROLLER_LEASE"
ORPHAN_EXIT_ENV = "WORKERPLANE_ORPHAN_EXIT_S"

#: The SDK's own default slot counts, which a gated worker keeps when given no limit.
_SDK_DEFAULT_SLOTS = 100

#: A leaving worker waits for its open polls only while tasks keep reaching it: one arrived in
#: the last this many seconds. Once they stop, tasks reach its polls so rarely that one matched
#: in the instant they are cancelled is unlikely, and waiting out a long poll (11-60 s) with no
#: task coming would cost the usual scale-down, the one after a burst, for nothing.
QUIET_WHILE_TASKS_WITHIN_S = 2.0

#: How long a leaving worker waits at most for its open polls (and at most half its graceful
#: period). A poller that has been getting tasks asks the server for an 11 s long poll.
QUIET_WAIT_MAX_S = 15.0


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else None


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker runs and when it leaves.

    Attributes:
        idle_exit_s: exit after this long with nothing in flight and nothing received
            (``None``: never exit for idleness).
        max_lifetime_s: exit after this long whatever happens (in-flight work still finishes).
        graceful_shutdown_s: on shutdown, how long in-flight activities may take to finish.
        max_concurrent_activities: activity slots.
        max_concurrent_workflow_tasks: workflow task slots.
        disable_eager_activities: turn off eager activity dispatch, so every activity shows up
            in the activity queue's stats (and can be scaled on).
        should_stop: polled every heartbeat; returning a reason stops the worker.
        orphan_exit_s: when the controller's lease (``WORKERPLANE_CONTROLLER_LEASE``) has not been
            renewed for this long, exit once idle for this long too, so a worker is never left
            running without a controller (but finishes the backlog it is working through).
        task_queues: override the task queues from the environment.
        deployment_name, build_id: override the versioning from the environment.
        default_versioning_behavior: for versioned workers, the behaviour of workflows that
            don't declare one.
    """

    idle_exit_s: float | None = None
    max_lifetime_s: float | None = None
    graceful_shutdown_s: float = 30.0
    max_concurrent_activities: int | None = None
    max_concurrent_workflow_tasks: int | None = None
    disable_eager_activities: bool = False
    should_stop: Callable[[], str | None] | None = None
    orphan_exit_s: float | None = 5.0
    task_queues: tuple[str, ...] | None = None
    deployment_name: str | None = None
    build_id: str | None = None
    default_versioning_behavior: VersioningBehavior = VersioningBehavior.PINNED

    @classmethod
    def from_env(cls, **overrides: Any) -> WorkerOptions:
        """Options from ``WORKERPLANE_*`` variables, then the explicit ``overrides``."""
        slots = os.environ.get(SLOTS_ENV)
        options = cls(
            idle_exit_s=_env_float(IDLE_EXIT_ENV),
            max_lifetime_s=_env_float(MAX_LIFETIME_ENV),
            graceful_shutdown_s=_env_float(GRACEFUL_SHUTDOWN_ENV) or 30.0,
            max_concurrent_activities=int(slots) if slots else None,
            orphan_exit_s=_env_float(ORPHAN_EXIT_ENV) or 5.0,
        )
        return replace(options, **overrides)


@dataclass(frozen=True)
class WorkerResult:
    """Why and when the worker stopped, and what it did."""

    exit_reason: str
    completed: int
    runtime_s: float


def _controller_alive(max_age_s: float) -> bool:
    """Whether the controller that manages this worker still renews its lease file.

    A file lease rather than a parent PID, so that a restarted controller that adopts this worker
    (and renews the same lease) keeps it alive.
    """
    lease = os.environ.get(CONTROLLER_LEASE_ENV)
    if not lease:
        return True
    try:
        return time.time() - os.stat(lease).st_mtime <= max_age_s
    except OSError:
        return False


async def run_worker(
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    options: WorkerOptions | None = None,
    client: Client | None = None,
) -> WorkerResult:
    """Run until idle, max lifetime, a stop request or a signal; then shut down gracefully."""
    from workerplane.temporal.connection import connect, resolve_connection

    options = options or WorkerOptions.from_env()
    started = time.monotonic()
    activity = WorkTracker()
    status_path = Path(os.environ[STATUS_FILE_ENV]) if os.environ.get(STATUS_FILE_ENV) else None
    state = "starting"
    types = {t for t in os.environ.get("WORKERPLANE_TASK_QUEUE_TYPES", "").split(",") if t}
    serve_workflows = not types or "WORKFLOW" in types
    serve_activities = not types or "ACTIVITY" in types
    # in_flight counts activities, so the slots reported are activity slots: a scaler then
    # knows each worker's capacity instead of having to learn it.
    reported_slots = options.max_concurrent_activities if serve_activities and activities else None
    activity.measure_workflow_tasks = bool(
        serve_workflows and workflows and not (serve_activities and activities)
    )

    def report(exit_reason: str | None = None) -> None:
        if status_path is None:
            return
        with contextlib.suppress(OSError):
            write_status(
                status_path,
                status_of(
                    activity.tally,
                    time.time() - (time.monotonic() - started),
                    state,
                    completed=activity.completed,
                    last_task_at=activity.last_task_wall,
                    exit_reason=exit_reason,
                    slots=reported_slots,
                ),
            )

    report()
    pusher = SketchPusher.from_env(activity.tally.waited.snapshot)
    if pusher is not None:
        pusher.start()
    if client is None:
        identity = marked_identity()
        named = {"identity": identity} if identity else {}
        client = await connect(resolve_connection(), runtime=heartbeat_runtime(), **named)
    queues = options.task_queues or tuple(
        q for q in os.environ.get("WORKERPLANE_TASK_QUEUES", "").split(",") if q
    )
    if not queues:
        queues = (os.environ["TEMPORAL_TASK_QUEUE"],)
    deployment_name = options.deployment_name or os.environ.get("TEMPORAL_DEPLOYMENT_NAME")
    build_id = options.build_id or os.environ.get("TEMPORAL_WORKER_BUILD_ID")
    deployment_config = None
    if deployment_name and build_id:
        deployment_config = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=deployment_name, build_id=build_id),
            use_worker_versioning=True,
            default_versioning_behavior=options.default_versioning_behavior,
        )
    # A scaling group may serve only some task types; its workers then poll only those, so
    # workflow and activity workers scale on their own queues.
    if not (serve_workflows and workflows) and not (serve_activities and activities):
        raise ValueError(f"nothing to run for task queue types {sorted(types)}")
    quiet = quiet_retirement_setting(os.environ.get(QUIET_RETIREMENT_ENV))
    if quiet == "auto":
        quiet = "off" if await server_completes_polls(client) else "on"
    gates: list[PollGate] = []

    def slots() -> dict[str, Any]:
        if quiet == "off":
            return {
                "max_concurrent_activities": options.max_concurrent_activities,
                "max_concurrent_workflow_tasks": options.max_concurrent_workflow_tasks,
            }
        activity_gate = PollGate(options.max_concurrent_activities or _SDK_DEFAULT_SLOTS)
        workflow_gate = PollGate(options.max_concurrent_workflow_tasks or _SDK_DEFAULT_SLOTS)
        gates.extend((activity_gate, workflow_gate))
        tuner = WorkerTuner.create_composite(
            workflow_supplier=workflow_gate,
            activity_supplier=activity_gate,
            local_activity_supplier=FixedSizeSlotSupplier(_SDK_DEFAULT_SLOTS),
            nexus_supplier=FixedSizeSlotSupplier(_SDK_DEFAULT_SLOTS),
        )
        return {"tuner": tuner}

    workers = [
        Worker(
            client,
            task_queue=queue,
            workflows=list(workflows) if serve_workflows else [],
            activities=list(activities) if serve_activities else [],
            # Outermost first: the count sees an activity before the measurement starts it.
            interceptors=[
                CountingInterceptor(activity),
                ScheduleToStartInterceptor(activity.tally),
            ],
            workflow_runner=CountingWorkflowRunner(activity),
            graceful_shutdown_timeout=timedelta(seconds=options.graceful_shutdown_s),
            disable_eager_activity_execution=options.disable_eager_activities,
            deployment_config=deployment_config,
            **slots(),
        )
        for queue in queues
    ]

    stop_reason: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def request_stop(reason: str) -> None:
        if not stop_reason.done():
            stop_reason.set_result(reason)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop, "signal")

    run_tasks = [asyncio.create_task(worker.run()) for worker in workers]
    state = "polling"
    activity.last_task_at = time.monotonic()
    report()
    logger.info("worker polling %s (pid %s)", ",".join(queues), os.getpid())

    async def watch() -> None:
        while not stop_reason.done():
            now = time.monotonic()
            idle_for = now - activity.last_task_at if activity.in_flight == 0 else 0.0
            if options.max_lifetime_s is not None and now - started >= options.max_lifetime_s:
                request_stop("max_lifetime")
            elif options.idle_exit_s is not None and idle_for >= options.idle_exit_s:
                request_stop("idle")
            elif options.should_stop is not None and (reason := options.should_stop()):
                request_stop(reason)
            elif (
                options.orphan_exit_s is not None
                and idle_for >= options.orphan_exit_s
                and not _controller_alive(options.orphan_exit_s)
            ):
                request_stop("orphaned")
            for task in run_tasks:
                if task.done():
                    request_stop("worker_failed" if task.exception() else "worker_stopped")
            report()
            activity.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(activity.changed.wait(), timeout=min(HEARTBEAT_S, 0.1))

    watcher = asyncio.create_task(watch())
    reason = await stop_reason
    watcher.cancel()
    state = "draining"
    report()
    # A drain lasts as long as the tasks in flight: the report stays fresh meanwhile, or the
    # controller would count the whole group's tasks as unknown until this worker exits.
    reporting = asyncio.create_task(_report_every(HEARTBEAT_S, report))
    logger.info("worker stopping: %s (in flight %d)", reason, activity.in_flight)
    if gates and reason != "worker_failed":
        await _let_polls_return(gates, activity, options.graceful_shutdown_s)
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    for task in run_tasks:
        if task.done() and not task.cancelled() and task.exception():
            logger.error("worker failed: %s", task.exception())
    reporting.cancel()
    state = "stopped"
    report(exit_reason=reason)
    if pusher is not None:
        await asyncio.to_thread(pusher.close)
    result = WorkerResult(reason, activity.completed, time.monotonic() - started)
    logger.info(
        "worker exited: %s after %.1fs, %d tasks", reason, result.runtime_s, result.completed
    )
    return result


async def _report_every(interval_s: float, report: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(interval_s)
        report()


def _tasks_arriving(activity: WorkTracker) -> bool:
    arrival = activity.last_arrival_at
    return arrival is not None and time.monotonic() - arrival < QUIET_WHILE_TASKS_WITHIN_S


async def _let_polls_return(
    gates: Sequence[PollGate], activity: WorkTracker, graceful_shutdown_s: float
) -> None:
    """While tasks keep reaching the worker, open no new poll and wait for the open ones to
    return (:mod:`~workerplane.worker.poll_gate`), at most :data:`QUIET_WAIT_MAX_S` and half the
    graceful period: in-flight work keeps running meanwhile, and the SDK's own graceful period,
    which starts at shutdown, still ends after the provider's deadline (``grace_period_s`` after
    SIGTERM)."""
    if not _tasks_arriving(activity):
        return
    for gate in gates:
        gate.close()
    started = time.monotonic()
    deadline = started + min(QUIET_WAIT_MAX_S, graceful_shutdown_s / 2)
    while any(gate.open_polls for gate in gates):
        if time.monotonic() >= deadline or not _tasks_arriving(activity):
            logger.info(
                "%d polls still open after %.1fs (tasks %s): cancelling them",
                sum(gate.open_polls for gate in gates),
                time.monotonic() - started,
                "still arriving" if _tasks_arriving(activity) else "stopped arriving",
            )
            return
        await asyncio.gather(*(gate.polls_returned(0.25) for gate in gates))
    logger.info("open polls returned after %.1fs", time.monotonic() - started)


def run(
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    options: WorkerOptions | None = None,
) -> None:
    """Entry point for a worker process: run, then exit the process.

    Exits with ``os._exit`` from inside the event loop once the worker has shut down and said
    so: temporalio can crash while the loop and interpreter are torn down (SDK issue #300), and
    a pod that drained cleanly then reports a failed exit (255 was seen in CI).
    """
    logging.basicConfig(
        level=os.environ.get("WORKERPLANE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s [worker %(process)d] %(message)s",
    )

    async def run_then_exit() -> None:
        code = 1
        try:
            result = await run_worker(workflows=workflows, activities=activities, options=options)
            code = 1 if result.exit_reason == "worker_failed" else 0
        except Exception:
            logger.exception("worker crashed")
        finally:
            logging.shutdown()
            os._exit(code)

    asyncio.run(run_then_exit())
