"""Worker heartbeats read from a real dev server (``ListWorkers``): the signal the Lambda census
counts a handler's activities from (:mod:`workerplane.temporal.worker_heartbeats`).

The worker is a real ``temporalio`` worker on the SDK runtime the Lambda handler uses
(:func:`workerplane.worker.heartbeats.heartbeat_runtime`: a heartbeat every second)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers.aws_lambda.census import worker_identity
from workerplane.temporal.worker_heartbeats import queue_query, worker_beats
from workerplane.worker.heartbeats import heartbeat_runtime

pytestmark = pytest.mark.integration


@activity.defn(name="heartbeat-test-sleep")
async def nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


@workflow.defn(name="heartbeat-test")
class Naps:
    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.execute_activity(nap, seconds, start_to_close_timeout=timedelta(seconds=30))


async def _until(check, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


def test_the_query_quotes_the_queue_name() -> None:
    assert queue_query("orders") == "TaskQueue='orders'"
    assert queue_query("it's") == "TaskQueue='it\\'s'"


async def test_a_workers_heartbeats_count_its_activities_in_flight_and_finished(
    temporal_address: str, unique_name: str
) -> None:
    identity = worker_identity("invocation-1")
    client = await Client.connect(temporal_address, identity=identity, runtime=heartbeat_runtime())
    reader = await Client.connect(temporal_address)
    assert await worker_beats(reader, "default", (unique_name,)) == {}, "no worker yet"

    worker = Worker(
        client,
        task_queue=unique_name,
        workflows=[Naps],
        activities=[nap],
        max_concurrent_activities=4,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    seen_in_flight: list[int] = []
    beats: dict[str, WorkerBeat] = {}

    async def finished_all() -> bool:
        nonlocal beats
        beats = await worker_beats(reader, "default", (unique_name,))
        beat = beats.get(identity)
        if beat is not None:
            seen_in_flight.append(beat.activities_in_flight)
        return beat is not None and beat.activities_processed == 3

    async with worker:
        handles = [
            await client.start_workflow(
                Naps.run, 3.0, id=f"{unique_name}-{i}", task_queue=unique_name
            )
            for i in range(3)
        ]
        await _until(finished_all)
        for handle in handles:
            await handle.result()

    beat = beats[identity]
    assert beat.task_queue == unique_name and beat.running
    assert max(seen_in_flight) == 3, "three 3 s activities were seen running at once"
    assert beat.activities_in_flight == 0

    async def shut_down() -> bool:
        beat = (await worker_beats(reader, "default", (unique_name,))).get(identity)
        return beat is not None and not beat.running

    await _until(shut_down)
