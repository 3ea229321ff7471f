"""The SDK runtime every workerplane worker connects with: Temporal's default, but sending a worker
heartbeat every second instead of every minute.

The heartbeats (``RecordWorkerHeartbeat``, read back with ``ListWorkers``) carry the worker's
status, its activity slots in use and free, and the activities it has finished. They are how the
controller counts the tasks in flight of workers it cannot ask itself: a Lambda invocation
(:mod:`workerplane.providers.aws_lambda.census`), an ECS task, a Cloud Run instance or a webhook
launcher's worker (:mod:`workerplane.planning.worker_beats`). One heartbeat is one small RPC
per worker per interval; ``WORKERPLANE_HEARTBEAT_INTERVAL_S`` sets the interval.
"""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio.runtime import Runtime, TelemetryConfig

#: Seconds between the worker's heartbeats to Temporal.
HEARTBEAT_INTERVAL_ENV = "WORKERPLANE_HEARTBEAT_INTERVAL_S"
DEFAULT_HEARTBEAT_INTERVAL_S = 1.0

_runtime: Runtime | None = None


def heartbeat_runtime() -> Runtime:
    """The process's SDK runtime with worker heartbeats every ``WORKERPLANE_HEARTBEAT_INTERVAL_S``
    (1 s by default). One per process (it owns a thread pool), created on first use, so a forked
    worker builds its own after the fork, and a warm Lambda sandbox keeps it across invocations."""
    global _runtime
    if _runtime is None:
        interval_s = float(os.environ.get(HEARTBEAT_INTERVAL_ENV) or DEFAULT_HEARTBEAT_INTERVAL_S)
        _runtime = Runtime(
            telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=interval_s)
        )
    return _runtime
