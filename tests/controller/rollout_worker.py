"""A versioned worker for the rollout tests: a pinned workflow that waits for a signal and then
says which build ran its activity, and a gate workflow that passes or fails on demand.

Run by the subprocess provider as ``python -m tests.controller.rollout_worker``.
"""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from workerplane.worker import WorkerOptions, run


@activity.defn
async def which_build() -> str:
    """The build this activity ran on, and its attempt (a retry would show as ``:2``)."""
    return f"{os.environ.get('TEMPORAL_WORKER_BUILD_ID', '')}:{activity.info().attempt}"


@workflow.defn
class PinnedOrder:
    """Stays open until signalled ``finish``, then runs one activity (pinned: on its build)."""

    def __init__(self) -> None:
        self._finish = False

    @workflow.signal
    def finish(self) -> None:
        self._finish = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._finish)
        return await workflow.execute_activity(
            which_build, start_to_close_timeout=timedelta(seconds=60)
        )


@workflow.defn
class Smoke:
    """The rollout gate: passes with ``True``, fails (for good) with ``False``."""

    @workflow.run
    async def run(self, should_pass: bool) -> str:
        if not should_pass:
            raise ApplicationError("smoke test failed: checkout returned 500", non_retryable=True)
        return await workflow.execute_activity(
            which_build, start_to_close_timeout=timedelta(seconds=60)
        )


if __name__ == "__main__":
    run(
        workflows=[PinnedOrder, Smoke],
        activities=[which_build],
        options=WorkerOptions.from_env(disable_eager_activities=True),
    )
