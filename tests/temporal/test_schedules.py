"""The schedules reader: what a run's history says it brought, and the schedules that start work
on managed queues, read from a real dev server."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskCompletedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from workerplane.planning.warmups import PastRun
from workerplane.temporal import schedules
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.schedule_runs import (
    LearnedRun,
    StartedWorkflow,
    WorkflowActivities,
    run_work,
    started_during_query,
    workflow_activities,
)
from workerplane.temporal.schedules import ScheduleReader


def _at(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMicroseconds(round(seconds * 1e6))
    return stamp


def _activity(scheduled_id: int, queue: str, scheduled: float, run_s: float) -> list[HistoryEvent]:
    return [
        HistoryEvent(
            event_id=scheduled_id,
            event_time=_at(scheduled),
            event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
                task_queue=TaskQueue(name=queue)
            ),
        ),
        HistoryEvent(
            event_id=scheduled_id + 1,
            event_time=_at(scheduled + 0.1),
            event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
                scheduled_event_id=scheduled_id
            ),
        ),
        HistoryEvent(
            event_id=scheduled_id + 2,
            event_time=_at(scheduled + 0.1 + run_s),
            event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            activity_task_completed_event_attributes=ActivityTaskCompletedEventAttributes(
                scheduled_event_id=scheduled_id, started_event_id=scheduled_id + 1
            ),
        ),
    ]


def test_a_past_run_counts_the_activities_on_managed_queues() -> None:
    events = [
        *_activity(10, "orders", 1000.5, 2.0),
        *_activity(20, "orders", 1001.5, 4.0),
        *_activity(30, "elsewhere", 1003.0, 60.0),
    ]
    own = workflow_activities(events, ["orders"])
    assert run_work(1000.0, own) == PastRun(
        action_at=1000.0,
        tasks=2,
        mean_task_s=pytest.approx(3.0),
        spread_s=pytest.approx(1.0),
        arrivals=pytest.approx(tuple(k / 10 for k in range(11))),
    )
    assert run_work(1000.0, workflow_activities([], ["orders"])) == PastRun(1000.0, 0, None, 0.0)


def test_a_past_run_counts_the_work_of_the_workflows_it_started() -> None:
    """Every started workflow brings what the sample of its type and queue brought, shifted to
    its own start; one without a sample brings nothing known."""
    own = WorkflowActivities(1000.0, 1010.0, scheduled=(), run_times=(), starts_children=True)
    child = WorkflowActivities(2000.0, 2003.0, scheduled=(2000.2,), run_times=(2.0,))
    started = [
        StartedWorkflow("Child", "orders", 1000.1 + i * 0.01, True, f"c{i}", f"r{i}")
        for i in range(100)
    ]
    stranger = StartedWorkflow("Other", "orders", 1000.5, False, "o", "ro")
    work = run_work(1000.0, own, [*started, stranger], {("Child", "orders"): child})
    assert work.tasks == 100
    assert work.mean_task_s == pytest.approx(2.0)
    assert work.spread_s == pytest.approx(0.99)
    # How they landed, from the first: every tenth of them 0.099 s after the one before.
    assert work.arrivals == pytest.approx(tuple(0.099 * k for k in range(11)))


def test_the_started_workflows_query_names_the_run_and_the_window() -> None:
    query = started_during_query("run-1", ["b", "a's"], 0.0, 60.5)
    assert query == (
        "TaskQueue IN ('a\\'s', 'b') "
        "AND StartTime BETWEEN '1970-01-01T00:00:00.000000Z' AND '1970-01-01T00:01:00.500000Z' "
        "AND (RootRunId = 'run-1' OR (ParentWorkflowId IS NULL AND TemporalScheduledById IS NULL))"
    )


@pytest.mark.integration
async def test_reader_returns_the_schedules_of_managed_queues(
    temporal_address: str, unique_name: str
) -> None:
    client = await Client.connect(temporal_address)
    for queue in (unique_name, f"{unique_name}-other"):
        await client.create_schedule(
            f"{queue}-hourly",
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "ProcessBatch", args=[1, 0.1], id=f"{queue}-run", task_queue=queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            ),
        )
    reader = ScheduleReader(refresh_s=3600)
    connection = ResolvedConnection(address=temporal_address, namespace="default")
    try:
        for _ in range(20):  # the schedule list is eventually consistent (visibility)
            await reader.refresh_now(connection, [unique_name])
            if runs := reader.upcoming(connection, [unique_name]):
                break
            await asyncio.sleep(0.5)
    finally:
        await reader.close()
        for queue in (unique_name, f"{unique_name}-other"):
            await client.get_schedule_handle(f"{queue}-hourly").delete()
    assert runs, "the next action times of the schedule on the managed queue"
    assert {r.schedule_id for r in runs} == {f"{unique_name}-hourly"}
    assert all(b.at - a.at == pytest.approx(3600) for a, b in itertools.pairwise(runs))
    assert all(r.work is None for r in runs), "no run has happened yet"


async def test_learning_stays_within_its_budget_newest_run_of_every_schedule_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100 schedules with 3 finished runs each: a refresh learns 30 runs (2 reads each, 60 reads),
    the newest of 30 schedules; the next refreshes go on where it stopped."""
    learned: list[tuple[str, float]] = []

    async def fake_learn(
        client: object, at: float, wid: str, rid: str, queues: tuple[str, ...]
    ) -> LearnedRun:
        learned.append((wid, at))
        return LearnedRun(PastRun(at, 1, 1.0, 0.0), reads=2)

    monkeypatch.setattr(schedules, "learn_run", fake_learn)
    reader = ScheduleReader()
    connection = ResolvedConnection(address="unused:7233", namespace="default")
    reader.upcoming(connection, ["orders"])  # registers the queue; no loop task is awaited here
    space = reader._namespaces[(connection.address, connection.namespace)]
    if space.task is not None:
        space.task.cancel()
    views = [
        schedules.ScheduleView(
            "orders", 0.0, recent=tuple((float(t), f"s{i}", f"r{i}-{t}") for t in range(3))
        )
        for i in range(100)
    ]
    await reader._learn(client=None, space=space, views=views)  # type: ignore[arg-type]
    assert len(learned) == schedules.LEARN_BUDGET // 2
    assert all(at == 2.0 for _, at in learned), "the newest run of each schedule first"
    learned.clear()
    for _ in range(10):
        await reader._learn(client=None, space=space, views=views)  # type: ignore[arg-type]
    assert len(space.runs) == 300
