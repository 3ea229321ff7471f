"""The example application: a workflow that runs one activity of a given length.

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
