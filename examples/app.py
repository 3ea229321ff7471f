"""The example application: a workflow that runs one activity of a given length, one that
fans out many (what a scheduled batch does), one that fans out as many child workflows (a
scheduled run that starts workflows), and one that waits for a signal first (a long-open
workflow, pinned to its version while a newer one takes over).

Used by ``workerplane up``, the integration tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def process_item(seconds: float) -> str:
    """Pretend to work for ``seconds`` (heartbeating, so a dead worker is noticed quickly)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        activity.heartbeat()
        await asyncio.sleep(min(remaining, 1.0))
    return f"done after {seconds}s (attempt {activity.info().attempt})"


@workflow.defn
class ProcessItem:
    """Runs ``process_item`` once and returns its result."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            process_item,
            seconds,
            start_to_close_timeout=timedelta(seconds=max(60.0, seconds * 3)),
            heartbeat_timeout=timedelta(seconds=10),
        )


@workflow.defn
class ProcessBatch:
    """Runs ``count`` ``process_item`` activities at once: one run of a scheduled batch (a
    Temporal Schedule starts one workflow per action; this makes it bring ``count`` tasks)."""

    @workflow.run
    async def run(self, count: int, seconds: float) -> int:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    process_item,
                    seconds,
                    start_to_close_timeout=timedelta(seconds=max(60.0, seconds * 3)),
                    heartbeat_timeout=timedelta(seconds=10),
                )
                for _ in range(count)
            )
        )
        return count


@workflow.defn
class ProcessChildren:
    """Starts ``count`` ``ProcessItem`` child workflows on its own task queue and waits for them:
    a scheduled run whose work is in the workflows it starts, not in its own history."""

    @workflow.run
    async def run(self, count: int, seconds: float) -> int:
        me = workflow.info()
        await asyncio.gather(
            *(
                workflow.execute_child_workflow(
                    ProcessItem.run, seconds, id=f"{me.workflow_id}-{i}", task_queue=me.task_queue
                )
                for i in range(count)
            )
        )
        return count


@workflow.defn
class AwaitRelease:
    """Waits for the ``release`` signal, then runs ``process_item`` once and returns its result."""

    def __init__(self) -> None:
        self._released = False

    @workflow.signal
    def release(self) -> None:
        self._released = True

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.wait_condition(lambda: self._released)
        return await workflow.execute_activity(
            process_item,
            seconds,
            start_to_close_timeout=timedelta(seconds=max(60.0, seconds * 3)),
            heartbeat_timeout=timedelta(seconds=10),
        )
