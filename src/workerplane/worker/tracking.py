"""How a worker knows it is idle: every activity and workflow task it runs is counted.

:class:`WorkTracker` lives outside any workflow sandbox; :class:`CountingInterceptor` counts
activities and :class:`CountingWorkflowRunner` (the default sandboxed runner) counts workflow
activations, which run on the SDK's workflow thread pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workerplane.worker.interceptor import ActivityTally
from workerplane.worker.workflow_tasks import first_task_wait


class WorkTracker:
    """Counts work so the worker knows when it is idle. Lives outside any workflow sandbox.

    The activity figures (in flight, finished, run time, schedule-to-start) are the ``tally``
    the :class:`ScheduleToStartInterceptor` keeps; ``completed`` also counts workflow tasks.
    A worker that runs no activities measures the first workflow task of each run instead
    (:mod:`workerplane.worker.workflow_tasks`), into the same sketch: its group's tasks are
    workflow tasks only, so the figure keeps one meaning.
    """

    def __init__(self) -> None:
        self.tally = ActivityTally()
        self.measure_workflow_tasks = False
        #: Workflow tasks run on a thread pool: their measurements are recorded one at a time.
        self._workflow_lock = threading.Lock()
        self.completed = 0
        self.last_task_at = time.monotonic()
        self.last_task_wall: float | None = None
        #: When a task last arrived (an activity or workflow task started; ``None``: none yet).
        self.last_arrival_at: float | None = None
        self.changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return self.tally.in_flight

    def started(self) -> None:
        self.last_arrival_at = time.monotonic()
        self._touch()

    def finished(self) -> None:
        self.completed += 1
        self._touch()

    def touched(self) -> None:
        self._touch()

    def workflow_task(self, activation: Any) -> None:
        if not self.measure_workflow_tasks:
            return
        waited = first_task_wait(activation)
        if waited is not None:
            with self._workflow_lock:
                self.tally.waited.record(waited)

    def _touch(self) -> None:
        self.last_task_at = time.monotonic()
        self.last_task_wall = time.time()
        self.changed.set()


class CountingInterceptor(Interceptor):
    def __init__(self, activity: WorkTracker) -> None:
        self._activity = activity

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivityInbound(next, self._activity)


class _CountingActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, activity: WorkTracker) -> None:
        super().__init__(next)
        self._activity = activity

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self._activity.started()
        try:
            return await super().execute_activity(input)
        finally:
            self._activity.finished()


class CountingWorkflowRunner(SandboxedWorkflowRunner):
    """The default sandboxed runner, noting every workflow activation (a workflow task)."""

    def __init__(self, activity: WorkTracker) -> None:
        super().__init__()
        self._activity = activity

    def create_instance(self, det: Any) -> Any:
        return _CountingInstance(super().create_instance(det), self._activity)


class _CountingInstance:
    def __init__(self, inner: Any, activity: WorkTracker) -> None:
        self._inner = inner
        self._activity = activity

    def activate(self, act: Any) -> Any:
        # Runs on the workflow task thread pool; only touch plain attributes here.
        self._activity.last_task_at = self._activity.last_arrival_at = time.monotonic()
        self._activity.last_task_wall = time.time()
        self._activity.completed += 1
        self._activity.workflow_task(act)
        return self._inner.activate(act)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
