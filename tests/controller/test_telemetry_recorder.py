"""The telemetry recorder with an in-memory sink: the write-rate bounds (one sample per interval,
an idle group every minute), actions never lost to them, events, published readiness, and a
failing sink whose batches are kept for the next flush."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from workerplane.controller.cycle import CycleReport
from workerplane.controller.telemetry import RecordingStatusSink, TelemetryRecorder
from workerplane.planning.achieved import LatencyWindow
from workerplane.planning.actions import (
    Action,
    GroupState,
    LogLine,
    NoAction,
    Plan,
    Resize,
)
from workerplane.planning.events import ActionKind, EventKind, GroupEvent, GroupSample
from workerplane.planning.observe import Observation
from workerplane.planning.status import GroupStatus, Readiness, VersionStatus
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import Hold, SetSize, WorkerCensus

NO_ACTION = NoAction()


class MemorySink:
    def __init__(self) -> None:
        self.samples: list[GroupSample] = []
        self.events: list[GroupEvent] = []
        self.fail = False

    async def write(self, samples: Sequence[GroupSample], events: Sequence[GroupEvent]) -> None:
        if self.fail:
            raise OSError("database down")
        self.samples.extend(samples)
        self.events.extend(events)


def status(at: float, **changes: Any) -> GroupStatus:
    base = GroupStatus(
        version_key="orders/v1",
        group_id="g",
        provider_type="subprocess",
        scaler_type="backlog",
        strategy="worker-set",
        workers_running=1,
        workers_ready=1,
        in_flight=0,
        pollers=1,
        backlog=0,
        backlog_age_s=0.0,
        add_rate=0.0,
        dispatch_rate=0.0,
        desired=1,
        last_decision="hold",
        last_reason="steady",
        last_error=None,
        provider_validation_error=None,
        metrics_ok=True,
        updated_at=at,
    )
    return dataclasses.replace(base, **changes)


def report(
    at: float,
    previous: GroupStatus | None,
    action: Action = NO_ACTION,
    measured: LatencySketch | None = None,
    **changes: Any,
) -> CycleReport:
    decision = SetSize(action.size, action.reason) if isinstance(action, Resize) else Hold("hold")
    latency = LatencyWindow(latest=measured or LatencySketch())
    plan = Plan(decision, action, LogLine(20, ""), GroupState(scaler_state=None, latency=latency))
    after = status(at, **changes)
    observation = Observation(census=WorkerCensus(running=after.workers_running), metrics=None)
    return CycleReport("orders/v1", "g", observation, plan, None, previous, after, 0.0, 0.0)


def run_cycles(
    recorder: TelemetryRecorder, cycles: list[tuple[float, Action, dict[str, Any]]]
) -> None:
    previous = None
    for at, action, changes in cycles:
        r = report(at, previous, action, **changes)
        recorder.on_cycle(r)
        previous = r.status


def test_one_sample_per_interval_and_an_idle_group_every_minute() -> None:
    sink = MemorySink()
    recorder = TelemetryRecorder(sink, sample_interval_s=2.0, idle_interval_s=60.0)
    # Cycles every second for five minutes; the backlog changes only in the first 10 s.
    run_cycles(
        recorder, [(float(t), NoAction(), {"backlog": t if t < 10 else 0}) for t in range(300)]
    )
    asyncio.run(recorder.flush())
    times = [s.at for s in sink.samples]
    assert times[:6] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert times[6:] == [70.0, 130.0, 190.0, 250.0]
    assert sink.events == []  # an unchanged hold is not news


def test_an_action_rides_on_the_next_due_sample() -> None:
    sink = MemorySink()
    recorder = TelemetryRecorder(sink)
    run_cycles(
        recorder,
        [
            (0.0, NoAction(), {}),
            (1.0, Resize(4, "backlog 40"), {"desired": 4}),  # too soon for a sample
            (2.0, NoAction(), {"desired": 4}),
        ],
    )
    asyncio.run(recorder.flush())
    assert (sink.samples[0].at, sink.samples[0].action) == (0.0, None)
    second = sink.samples[1]
    assert second.at == 2.0 and second.action is not None
    assert (second.action.kind, second.action.size) == (ActionKind.SCALE_UP, 4)
    (decision,) = sink.events
    assert (decision.kind, decision.reason, decision.at) == (EventKind.DECISION, "backlog 40", 1.0)


def test_a_failing_sink_keeps_the_batch_for_the_next_flush() -> None:
    sink = MemorySink()
    recorder = TelemetryRecorder(sink, max_buffered=3)
    sink.fail = True
    run_cycles(recorder, [(float(t) * 2, NoAction(), {"backlog": t}) for t in range(5)])
    asyncio.run(recorder.flush())
    assert sink.samples == []
    sink.fail = False
    asyncio.run(recorder.flush())
    assert [s.backlog for s in sink.samples] == [2, 3, 4]  # the newest, within the bound
    asyncio.run(recorder.flush())
    assert len(sink.samples) == 3


def test_run_flushes_until_stopped_and_once_more() -> None:
    sink = MemorySink()
    recorder = TelemetryRecorder(sink, flush_every_s=0.01)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(recorder.run(stop))
        recorder.on_cycle(report(0.0, None))
        stop.set()
        await task

    asyncio.run(scenario())
    assert len(sink.samples) == 1


class MemoryStatusSink:
    def __init__(self) -> None:
        self.published: list[tuple[list[GroupStatus], Sequence[VersionStatus]]] = []

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: object = None,
    ) -> None:
        self.published.append((statuses, versions))


def test_published_statuses_give_readiness_events_and_pass_through() -> None:
    sink, inner = MemorySink(), MemoryStatusSink()
    recorder = TelemetryRecorder(sink)
    wrapped = RecordingStatusSink(inner, recorder, wall_clock=lambda: 50.0)
    group = status(1.0)

    def version(readiness: Readiness, reason: str | None = None) -> VersionStatus:
        return VersionStatus("orders/v1", 1, False, (group,), readiness, reason, None, False)

    async def scenario() -> None:
        await wrapped.publish([group], [version(Readiness.READY)])
        await wrapped.publish([group], [version(Readiness.READY)])
        await wrapped.publish([group], [version(Readiness.UPDATE_FAILED, "workers fail: exit 3")])
        await recorder.flush()

    asyncio.run(scenario())
    assert len(inner.published) == 3
    assert [(e.kind, e.reason, e.at, e.group_id) for e in sink.events] == [
        (EventKind.READINESS, "ready", 50.0, None),
        (EventKind.READINESS, "workers fail: exit 3", 50.0, None),
    ]


def test_a_group_that_stopped_cycling_is_forgotten() -> None:
    sink = MemorySink()
    recorder = TelemetryRecorder(sink, sample_interval_s=2.0, idle_interval_s=60.0)

    def cycle(at: float, group: str) -> None:
        recorder.on_cycle(dataclasses.replace(report(at, None, group_id=group), group_id=group))

    cycle(0.0, "stops")
    cycle(1.0, "stops")  # too soon for another sample
    cycle(500.0, "lives")
    asyncio.run(recorder.flush())
    cycle(1.5, "stops")  # still tracked: still too soon
    cycle(601.0, "lives")  # ten idle intervals after the last sample of "stops"
    asyncio.run(recorder.flush())  # ... which the flush forgets
    cycle(1.8, "stops")  # so this one is a first sample again
    asyncio.run(recorder.flush())
    assert [(s.group_id, s.at) for s in sink.samples] == [
        ("stops", 0.0),
        ("lives", 500.0),
        ("lives", 601.0),
        ("stops", 1.8),
    ]


def test_measured_latencies_ride_on_the_next_sample_and_none_is_lost() -> None:
    """Cycles every 0.5 s each measure a task; samples are written every 2 s (and one is due
    as soon as tasks were measured, even for an idle group): every task is in some sample."""
    sink = MemorySink()
    recorder = TelemetryRecorder(sink, sample_interval_s=2.0, idle_interval_s=60.0)
    previous = None
    for i in range(21):  # the last cycle measures nothing: it carries what is still pending
        measured = LatencySketch.of([0.1 * (i + 1)]) if i < 20 else None
        r = report(i * 0.5, previous, measured=measured)
        recorder.on_cycle(r)
        previous = r.status
    asyncio.run(recorder.flush())
    total = LatencySketch()
    for sample in sink.samples:
        total = total.merge(sample.waited or LatencySketch())
    assert total.buckets == LatencySketch.of([0.1 * (i + 1) for i in range(20)]).buckets
    assert [s.at for s in sink.samples] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
