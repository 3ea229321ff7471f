"""Run a Temporal worker inside an AWS Lambda invocation, and return as soon as it is idle.

A user's whole Lambda handler is one line::

    handler = handler_for(workflows=[MyWorkflow], activities=[my_activity])

Each invocation (sent by workerplane's ``aws-lambda`` provider) runs a real ``temporalio`` worker
through :func:`workerplane.worker.run_worker` and returns when the first of these happens:

* the worker has been idle (nothing in flight, nothing received) for ``idle_exit_s``: the backlog is
  drained, so the invocation stops billing instead of waiting for its deadline (Temporal's own
  Lambda workers run until the deadline);
* ``context.get_remaining_time_in_millis()`` falls to ``graceful_shutdown_s + safety_margin_s``:
  the worker stops polling and in-flight activities get ``graceful_shutdown_s`` to finish before
  Lambda would kill the sandbox.

Its worker polls under the identity ``workerplane-lambda:<invocation id>``, so the provider's census
sees from the queue's pollers when the invocation has returned
(:mod:`workerplane.providers.aws_lambda.census`). It sends Temporal a worker heartbeat every
second (:mod:`workerplane.worker.heartbeats`), from which the census counts the activities it runs
and has finished.

It returns ``{"exit_reason": "idle" | "deadline" | ..., "completed": N, "runtime_s": T, ...}`` and
logs what it processed. Defaults are sized for Lambda: a handful of slots (one vCPU at ~1.8 GB) and
eager activities off, so every activity goes through the activity queue where the controller sees
it (an eagerly started activity would tie up this short-lived worker and hide from the backlog).

**The event.** The provider's payload carries the Temporal settings under ``"workerplane"``:
``{"workerplane": {"invocation_id", "deployment", "group", "env": {"TEMPORAL_ADDRESS": ...,
"TEMPORAL_NAMESPACE": ..., "TEMPORAL_TASK_QUEUE": ..., "TEMPORAL_DEPLOYMENT_NAME": ...,
"TEMPORAL_WORKER_BUILD_ID": ...}}}``. Those variables override the function's own environment for
this invocation. Secrets (``TEMPORAL_API_KEY``, TLS keys) normally come from the function's own
configuration; when the provider sends them (``include_secrets``) they are applied but never logged.

**An empty event** (Temporal's own worker controller invokes with ``InvocationType=Event`` and an
empty payload) sets nothing: the worker then reads its queue, version and connection from the
function's own environment, so a function that Temporal's controller drives must configure
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_TASK_QUEUE``,
``TEMPORAL_DEPLOYMENT_NAME`` and ``TEMPORAL_WORKER_BUILD_ID`` there.

**Local emulators.** serverless-offline's Python runner builds its context without the function's
timeout, so ``get_remaining_time_in_millis()`` there counts down from a fixed 6 s. When
``IS_OFFLINE`` is set (serverless-offline sets it) and ``WORKERPLANE_LAMBDA_TIMEOUT_S`` is given,
the deadline is computed from that timeout instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from workerplane.providers.aws_lambda.census import worker_identity
from workerplane.temporal.connection import connect, resolve_connection
from workerplane.worker.heartbeats import heartbeat_runtime
from workerplane.worker.identity import marked_identity
from workerplane.worker.runtime import WorkerOptions, WorkerResult, run_worker

logger = logging.getLogger("workerplane.worker.lambda")

EVENT_KEY = "workerplane"
TIMEOUT_OVERRIDE_ENV = "WORKERPLANE_LAMBDA_TIMEOUT_S"

#: Variables an event may set. Anything else in the event is ignored (it cannot, say, change PATH).
_ALLOWED_PREFIXES = ("TEMPORAL_", "WORKERPLANE_")
#: Never printed: the values of these variables.
_SECRET_MARKERS = ("API_KEY", "_KEY_DATA", "_CERT_DATA", "PASSWORD", "SECRET", "TOKEN")

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def _is_secret(name: str) -> bool:
    return any(marker in name.upper() for marker in _SECRET_MARKERS)


def event_environment(event: Mapping[str, Any]) -> dict[str, str]:
    """The ``TEMPORAL_*`` / ``WORKERPLANE_*`` variables an invocation event carries."""
    block = event.get(EVENT_KEY) if isinstance(event, Mapping) else None
    env = block.get("env") if isinstance(block, Mapping) else None
    if not isinstance(env, Mapping):
        return {}
    return {
        str(k): str(v)
        for k, v in env.items()
        if isinstance(k, str) and k.startswith(_ALLOWED_PREFIXES) and v is not None
    }


def _emulated_start(block: Mapping[str, Any], started_wall: float, timeout_s: float) -> float:
    """When the emulated invocation began (Unix seconds): the invoke time the provider put in
    the event, if it is plausible, else the handler's own start. Lambda counts its timeout from
    the invoke; a sandbox that took 20 s to boot has 20 s less to work."""
    invoked_at = block.get("invoked_at")
    plausible = (
        isinstance(invoked_at, int | float)
        and not isinstance(invoked_at, bool)
        and started_wall - timeout_s <= invoked_at <= started_wall
    )
    return float(invoked_at) if plausible else started_wall


def _remaining_s(
    context: Any, emulated_start: float, timeout_override_s: float | None
) -> float | None:
    if timeout_override_s is not None:
        return timeout_override_s - (time.time() - emulated_start)
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    return float(getter()) / 1000.0


def handler_for(
    *,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    idle_exit_s: float = 5.0,
    graceful_shutdown_s: float = 10.0,
    safety_margin_s: float = 5.0,
    max_concurrent_activities: int = 8,
    max_concurrent_workflow_tasks: int = 8,
    disable_eager_activities: bool = True,
    options: WorkerOptions | None = None,
) -> Handler:
    """A Lambda handler ``(event, context) -> dict`` that runs a worker until idle or the deadline.

    Args:
        workflows, activities: what the worker registers.
        idle_exit_s: return after this long with nothing in flight and nothing received.
        graceful_shutdown_s: time in-flight activities get to finish when stopping.
        safety_margin_s: extra buffer before Lambda's deadline (start-up of the shutdown, logs).
        max_concurrent_activities, max_concurrent_workflow_tasks: slots (modest: one Lambda
            sandbox has little CPU).
        disable_eager_activities: keep activities in the activity queue (see the module doc).
        options: a base :class:`WorkerOptions`; the arguments above override its fields.
    """
    base = options or WorkerOptions()

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # A warm Lambda sandbox serves many invocations: one event's variables must not leak
        # into the next (nor into the host process when run in-process, e.g. in tests).
        saved = dict(os.environ)
        try:
            return _handle(event, context)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    async def _run(invocation_id: str, worker_options: WorkerOptions) -> WorkerResult:
        # The identity carries the invocation ID, so the provider's census sees from the queue's
        # pollers when this invocation's worker stops polling (an empty event: the SDK default).
        # The deployment's marker follows it (:mod:`workerplane.planning.identity`).
        base = worker_identity(invocation_id) if invocation_id else None
        identity = marked_identity(base) or base
        named = {"identity": identity} if identity else {}
        client = await connect(resolve_connection(), runtime=heartbeat_runtime(), **named)
        return await run_worker(
            workflows=workflows, activities=activities, options=worker_options, client=client
        )

    def _handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        started_wall = time.time()
        block = event.get(EVENT_KEY, {}) if isinstance(event, Mapping) else {}
        block = block if isinstance(block, Mapping) else {}
        invocation_id = str(block.get("invocation_id", ""))
        variables = event_environment(event)
        os.environ.update(variables)
        # In Lambda the controller runs elsewhere: its PID means nothing here.
        os.environ.pop("WORKERPLANE_CONTROLLER_PID", None)

        override = os.environ.get(TIMEOUT_OVERRIDE_ENV)
        timeout_override_s = (
            float(override) if override and os.environ.get("IS_OFFLINE") == "true" else None
        )
        buffer_s = graceful_shutdown_s + safety_margin_s
        emulated_start = (
            _emulated_start(block, started_wall, timeout_override_s)
            if timeout_override_s is not None
            else started_wall
        )

        def near_deadline() -> str | None:
            remaining = _remaining_s(context, emulated_start, timeout_override_s)
            return "deadline" if remaining is not None and remaining <= buffer_s else None

        worker_options = replace(
            base,
            idle_exit_s=idle_exit_s,
            graceful_shutdown_s=graceful_shutdown_s,
            max_concurrent_activities=max_concurrent_activities,
            max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
            disable_eager_activities=disable_eager_activities,
            should_stop=near_deadline,
            orphan_exit_s=None,
        )
        shown = {k: ("***" if _is_secret(k) else v) for k, v in sorted(variables.items())}
        logger.info(
            "invocation %s: worker starting for %s (namespace %s) %s",
            invocation_id or "?",
            os.environ.get("TEMPORAL_TASK_QUEUE", "?"),
            os.environ.get("TEMPORAL_NAMESPACE", "default"),
            shown,
        )
        result = asyncio.run(_run(invocation_id, worker_options))
        reply = {
            "exit_reason": result.exit_reason,
            "completed": result.completed,
            "runtime_s": round(time.time() - started_wall, 3),
            "invocation_id": invocation_id,
        }
        logger.info(
            "invocation %s: worker returned (%s) after %.1fs, %d tasks processed",
            invocation_id or "?",
            result.exit_reason,
            reply["runtime_s"],
            result.completed,
        )
        return reply

    return handler
