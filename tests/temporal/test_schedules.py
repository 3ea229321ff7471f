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

from workerplane.planning.prewarm import PastRun
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.schedules import ScheduleReader, past_run


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
    assert past_run(events, 1000.0, ["orders"]) == PastRun(
        action_at=1000.0, tasks=2, mean_task_s=pytest.approx(3.0), spread_s=pytest.approx(1.0)
    )
    assert past_run([], 1000.0, ["orders"]) == PastRun(1000.0, 0, None, 0.0)


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
