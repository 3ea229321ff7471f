"""What one finished run of a Temporal Schedule brought to the managed task queues: the activities
of the workflow the schedule started, and of the workflows that workflow started (its child
workflows, and workflows it started through a client), for schedule-aware pre-warming.

A run is read with, at most:

* one ``GetWorkflowExecutionHistory`` of the scheduled workflow (its own activities);
* one ``ListWorkflowExecutions`` (visibility, one page of 1000 in the common case): the workflows
  on the managed queues that started while the run was open and are either its descendants
  (``RootRunId``) or started by nobody Temporal knows (no parent, no schedule: a client inside the
  run's activities, or the queue's other unscheduled traffic, which the run is then charged with);
* one ``GetWorkflowExecutionHistory`` per distinct workflow type and queue among those: one closed
  workflow of each stands for all of its kind (a hundred children of one type cost one read, not a
  hundred).

So a run that fans out 100 children costs three reads, and a run that starts nothing but its own
activities two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from workerplane.planning.warmups import PastRun, arrival_curve

logger = logging.getLogger("workerplane.schedules")

#: A run is charged with at most this many started workflows (the visibility read stays one or
#: two pages even on a queue with heavy unscheduled traffic).
MAX_STARTED = 2_000

_CLOSE_TYPES = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)

_WORKFLOW_CLOSE_TYPES = (
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
)


@dataclass(frozen=True)
class WorkflowActivities:
    """What one workflow's history says of its activities on the managed queues.

    Attributes:
        started_at: when the workflow started (epoch seconds).
        closed_at: when it closed (``None``: still open).
        scheduled: when each activity was scheduled (epoch seconds).
        run_times: each finished activity's run time (started to closed), seconds.
        starts_children: whether it started child workflows (their work is elsewhere).
    """

    started_at: float
    closed_at: float | None
    scheduled: tuple[float, ...]
    run_times: tuple[float, ...]
    starts_children: bool = False


@dataclass(frozen=True)
class StartedWorkflow:
    """A workflow a run started on a managed queue, as visibility lists it."""

    workflow_type: str
    task_queue: str
    started_at: float
    closed: bool
    workflow_id: str
    run_id: str


def _seconds(event: HistoryEvent) -> float:
    return float(event.event_time.ToMicroseconds()) / 1e6


def workflow_activities(
    events: Iterable[HistoryEvent], task_queues: Iterable[str]
) -> WorkflowActivities:
    """The activities a workflow scheduled on ``task_queues``: when, and how long each ran."""
    queues = set(task_queues)
    scheduled: dict[int, float] = {}
    started: dict[int, float] = {}
    run_times: list[float] = []
    first: float | None = None
    closed: float | None = None
    children = False
    for event in events:
        kind = event.event_type
        at = _seconds(event)
        first = at if first is None else first
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.task_queue.name in queues:
                scheduled[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            if event.activity_task_started_event_attributes.scheduled_event_id in scheduled:
                started[event.event_id] = at
        elif kind in _CLOSE_TYPES:
            which = event.WhichOneof("attributes")
            start_id = getattr(event, which).started_event_id if which else 0
            if start_id in started:
                run_times.append(at - started[start_id])
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            children = True
        elif kind in _WORKFLOW_CLOSE_TYPES:
            closed = at
    return WorkflowActivities(
        started_at=first or 0.0,
        closed_at=closed,
        scheduled=tuple(scheduled.values()),
        run_times=tuple(run_times),
        starts_children=children,
    )


def run_work(
    action_at: float,
    own: WorkflowActivities,
    started: Sequence[StartedWorkflow] = (),
    samples: Mapping[tuple[str, str], WorkflowActivities] | None = None,
) -> PastRun:
    """What a run brought: the scheduled workflow's own activities, and for every workflow it
    started, the activities of the sample of its type and queue, shifted to its start (a started
    workflow without a sample brings nothing known). The spread and the arrival curve (how the
    activities were scheduled, :func:`~workerplane.planning.warmups.arrival_curve`) are from the
    first activity scheduled, not from ``action_at``: a run that found no worker scheduled its
    activities late, and would teach a spread the next, warmed, run does not have."""
    instants = list(own.scheduled)
    run_times = list(own.run_times)
    for workflow in started:
        sample = (samples or {}).get((workflow.workflow_type, workflow.task_queue))
        if sample is None:
            continue
        instants.extend(workflow.started_at + (s - sample.started_at) for s in sample.scheduled)
        run_times.extend(sample.run_times)
    return PastRun(
        action_at=action_at,
        tasks=len(instants),
        mean_task_s=sum(run_times) / len(run_times) if run_times else None,
        spread_s=max(instants) - min(instants) if instants else 0.0,
        arrivals=arrival_curve(instants),
    )


def _rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def started_during_query(run_id: str, task_queues: Iterable[str], start: float, end: float) -> str:
    """The visibility query for the workflows a run started on ``task_queues`` between ``start``
    and ``end`` (epoch seconds): its descendants, and root workflows no schedule started."""
    queues = ", ".join(_quoted(q) for q in sorted(task_queues))
    return (
        f"TaskQueue IN ({queues}) "
        f"AND StartTime BETWEEN {_quoted(_rfc3339(start))} AND {_quoted(_rfc3339(end))} "
        f"AND (RootRunId = {_quoted(run_id)} "
        "OR (ParentWorkflowId IS NULL AND TemporalScheduledById IS NULL))"
    )


def _started(execution: WorkflowExecution) -> StartedWorkflow:
    return StartedWorkflow(
        workflow_type=execution.workflow_type,
        task_queue=execution.task_queue,
        started_at=execution.start_time.timestamp(),
        closed=execution.status not in (None, WorkflowExecutionStatus.RUNNING),
        workflow_id=execution.id,
        run_id=execution.run_id,
    )


@dataclass(frozen=True)
class LearnedRun:
    """A finished run's work, and the Temporal reads learning it cost."""

    work: PastRun | None
    reads: int


async def learn_run(
    client: Client, action_at: float, workflow_id: str, run_id: str, task_queues: Sequence[str]
) -> LearnedRun:
    """Read what one run brought (see the module's docstring for the reads). ``work`` is ``None``
    while the scheduled workflow is still open (learn it on a later refresh)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    own = workflow_activities((await handle.fetch_history()).events, task_queues)
    if own.closed_at is None:
        return LearnedRun(None, 1)
    query = started_during_query(run_id, task_queues, action_at, own.closed_at)
    try:
        started = [
            _started(execution)
            async for execution in client.list_workflows(query, limit=MAX_STARTED)
            if execution.run_id != run_id
        ]
    except RPCError as err:  # a server without these search attributes: the run's own work
        logger.debug("workflows started by %s not listed: %s", workflow_id, err)
        started = []
    reads = 2
    samples: dict[tuple[str, str], WorkflowActivities] = {}
    for workflow in started:
        key = (workflow.workflow_type, workflow.task_queue)
        if key in samples or not workflow.closed:
            continue
        sample = client.get_workflow_handle(workflow.workflow_id, run_id=workflow.run_id)
        samples[key] = workflow_activities((await sample.fetch_history()).events, task_queues)
        reads += 1
    return LearnedRun(run_work(action_at, own, started, samples), reads)
