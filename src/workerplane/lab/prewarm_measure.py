"""What a pre-warming run measured, from the workflows' histories and the controller's statuses:
when each scheduled run's tasks started after its action time, and the group's worker-seconds.

Every workflow on the bench's queue belongs to one run: a workflow a schedule started carries
its action time (``TemporalScheduledStartTime``), a child workflow belongs to its root's run.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from workerplane.planning.status import GroupStatus

GROUP = "workers"

_ACTION_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@dataclass(frozen=True)
class RunTiming:
    """One run of the schedules (every workflow they started at one action time, and those
    workflows' children), as its histories and the controller's status saw it.

    Attributes:
        action_at: the action time (epoch seconds).
        first_task_s: from the action time until the run's first task (a workflow task) started.
        first_workflow_s: until the run's first workflow started (the server's part of
            ``first_task_s``: many schedules firing at once start their workflows late).
        last_workflow_s: until the last of the run's workflows started (the server's pace: a
            run's child workflows start one by one).
        workflow_wait_s: the longest any of the run's workflows waited for its first task.
        first_activity_s: until the run's first activity started.
        last_activity_s: until its last activity started.
        polling_before: a worker of the group was polling at the action time (:func:`polling_at`).
        workflows: how many workflows the run had.
    """

    action_at: float
    first_task_s: float
    first_workflow_s: float
    last_workflow_s: float
    workflow_wait_s: float
    first_activity_s: float
    last_activity_s: float
    polling_before: bool
    workflows: int = 1


@dataclass
class BatchResult:
    """What one mode measured: each run, and the group's worker-seconds from the second run's
    previous interval to one interval after the last run (the cold first run left out)."""

    mode: str
    runs: list[RunTiming] = field(default_factory=list)
    worker_seconds: float = 0.0
    history: list[tuple[float, list[GroupStatus]]] = field(default_factory=list, repr=False)

    def later(self) -> list[RunTiming]:
        """The runs after the first (the first is cold in every mode: nothing learned yet)."""
        return self.runs[1:]


async def run_workflows(client: Client, queue: str) -> dict[float, list[tuple[str, str]]]:
    """Every workflow on ``queue``, by the action time of the run it belongs to."""
    action_of_root: dict[str, float] = {}
    members: list[tuple[str, str, str]] = []  # (workflow id, run id, root run id)
    async for execution in client.list_workflows(f"TaskQueue = '{queue}'"):
        at = execution.typed_search_attributes.get(_ACTION_TIME)
        root = execution.raw_info.root_execution.run_id or execution.run_id
        if isinstance(at, datetime):
            action_of_root[execution.run_id] = at.timestamp()
        members.append((execution.id, execution.run_id, root))
    runs: dict[float, list[tuple[str, str]]] = defaultdict(list)
    for workflow_id, run_id, root in members:
        if root in action_of_root:
            runs[action_of_root[root]].append((workflow_id, run_id))
    return dict(sorted(runs.items()))


async def run_timing(
    client: Client,
    at: float,
    workflows: list[tuple[str, str]],
    history: list[tuple[float, list[GroupStatus]]],
) -> RunTiming:
    """One run's timing, from the histories of its workflows."""
    starts: list[float] = []
    first_tasks: list[float] = []
    waits: list[float] = []
    activity_starts: list[float] = []
    for workflow_id, run_id in workflows:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        task_starts: list[float] = []
        for event in (await handle.fetch_history()).events:
            moment = event.event_time.ToMicroseconds() / 1e6
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                starts.append(moment)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                task_starts.append(moment)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                activity_starts.append(moment)
        first_tasks.append(min(task_starts))
        waits.append(min(task_starts) - starts[-1])
    polling = polling_at(history, at)
    return RunTiming(
        action_at=at,
        first_task_s=min(first_tasks) - at,
        first_workflow_s=min(starts) - at,
        last_workflow_s=max(starts) - at,
        workflow_wait_s=max(waits),
        first_activity_s=min(activity_starts) - at,
        last_activity_s=max(activity_starts) - at,
        polling_before=polling,
        workflows=len(workflows),
    )


def polling_at(history: list[tuple[float, list[GroupStatus]]], moment: float) -> bool:
    """Whether the group had a ready (polling) worker at ``moment`` (epoch seconds): the last
    status the controller published before it says so. A status holds until the next one, so
    a slow cycle on a loaded machine does not hide a worker that was polling all along."""
    before = [(t, statuses) for t, statuses in history if t < moment]
    if not before:
        return False
    _, statuses = max(before, key=lambda entry: entry[0])
    return any(s.group_id == GROUP and (s.workers_ready or 0) > 0 for s in statuses)


def worker_seconds(
    history: list[tuple[float, list[GroupStatus]]], start: float, end: float
) -> float:
    """The group's running workers integrated over ``[start, end)`` (epoch seconds), from the
    controller's published statuses (a step function between publishes)."""
    samples = [
        (t, sum(s.workers_running for s in statuses if s.group_id == GROUP))
        for t, statuses in history
    ]
    total = 0.0
    for (t0, n), (t1, _) in itertools.pairwise(samples):
        lo, hi = max(t0, start), min(t1, end)
        if hi > lo:
            total += n * (hi - lo)
    return total


def table(results: list[BatchResult]) -> str:
    """The modes side by side (Markdown), runs after the first: medians over the runs, but the
    longest first-task wait of any workflow of any run."""
    hand = next((r for r in results if r.mode == "hand-placed"), None)
    lines = [
        "| mode | first task after action, s (runs 2..) | first workflow started, s (runs 2..) "
        "| last workflow started, s "
        "| longest first-task wait, s | first activity, s | last activity, s | polling before "
        "| worker-s | x hand-placed |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        later = r.later()
        ratio = r.worker_seconds / hand.worker_seconds if hand and hand.worker_seconds else 0.0
        lines.append(
            f"| {r.mode} | {', '.join(f'{x.first_task_s:.2f}' for x in later)} "
            f"| {', '.join(f'{x.first_workflow_s:.2f}' for x in later)} "
            f"| {statistics.median(x.last_workflow_s for x in later):.2f} "
            f"| {max(x.workflow_wait_s for x in later):.2f} "
            f"| {statistics.median(x.first_activity_s for x in later):.2f} "
            f"| {statistics.median(x.last_activity_s for x in later):.2f} "
            f"| {sum(x.polling_before for x in later)}/{len(later)} "
            f"| {r.worker_seconds:.0f} | {ratio:.2f} |"
        )
    return "\n".join(lines)
