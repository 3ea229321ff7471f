"""The controller's cycle without a server: fake metrics and an in-memory provider, table-driven.

Each case runs real controller code (observe, plan, execute, status) for a few cycles and checks
the provider calls it made and the status it reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.controller.controller import Controller
from workerplane.controller.cycle import CycleReport, GroupRuntime, run_cycle
from workerplane.controller.interfaces import MetricsSource
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.actions import GroupState, Resize
from workerplane.planning.identity import WorkerMarker, worker_identity
from workerplane.planning.status import (
    ControllerStatus,
    GroupStatus,
    ManagedVersion,
    Readiness,
    VersionStatus,
)
from workerplane.planning.worker_beats import MarkedWorkersCensus, WorkerBeat
from workerplane.providers.base import Provider, ProviderCheck, ProviderError, WorkerEnvironment
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.metrics import MetricsUnavailable, QueueTarget

SET = Strategy.WORKER_SET
INV = Strategy.INVOKE


def spec(min_count: int = 0) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": ["orders"],
            "compute": {
                "scaling_groups": {
                    "g": {
                        "provider": {
                            "type": "subprocess",
                            "details": {"command": ["true"], "strategy": "worker-set"},
                        },
                        "scaler": {
                            "type": "backlog",
                            "details": {"min_count": min_count, "metrics_poll_interval_ms": 100},
                        },
                    }
                }
            },
        }
    )


class FakeProvider(Provider):
    """Workers in memory: ``running`` of them, with ``in_flight`` tasks; records every call."""

    type = "fake"

    def __init__(
        self, strategy: Strategy, running: int = 0, fail: ProviderError | None = None
    ) -> None:
        self.strategy = strategy
        self.running = running
        self.in_flight = 0
        self.slots: int | None = None
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    async def validate(self) -> ProviderCheck:
        return ProviderCheck(ok=True)

    async def census(self) -> WorkerCensus:
        return WorkerCensus(
            running=self.running, ready=self.running, in_flight=self.in_flight, slots=self.slots
        )

    async def invoke(self, count: int) -> int:
        self.calls.append(("invoke", count))
        if self.fail is not None:
            raise self.fail
        self.running += count
        return count

    async def set_size(self, size: int) -> None:
        self.calls.append(("set_size", size))
        if self.fail is not None:
            raise self.fail
        self.running = size


@dataclass
class FakeMetrics:
    """Serves ``backlog`` as the activity queue's stats; ``None`` means the server is down."""

    backlog: int | None = 0
    #: What the uncached signals see waiting; ``None`` means they cannot be read.
    fresh: dict[str, int] | None = field(default_factory=dict)
    fresh_reads: int = 0
    reads: int = 0

    async def __call__(self, connection: ResolvedConnection) -> MetricsSource:
        return self

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        self.reads += 1
        if self.backlog is None:
            raise MetricsUnavailable("server down")
        return {"ACTIVITY": QueueStats(backlog_count=self.backlog)}

    async def read_fresh(self, target: QueueTarget) -> Mapping[str, int]:
        self.fresh_reads += 1
        if self.fresh is None:
            raise MetricsUnavailable("hint unavailable")
        return self.fresh


@dataclass
class Scripted:
    """A scaler deciding the next of ``decisions`` each cycle (and holding after them)."""

    decisions: list[Decision]
    strategy: Strategy = SET
    seen: list[GroupMetrics | None] = field(default_factory=list)

    @property
    def poll_interval_s(self) -> float:
        return 1.0

    def initial_state(self, now: float) -> int:
        return 0

    def decide(self, state: int, metrics: GroupMetrics | None, now: float) -> tuple[int, Decision]:
        self.seen.append(metrics)
        if state < len(self.decisions):
            return state + 1, self.decisions[state]
        return state + 1, Hold("scripted hold")


def runtime(
    provider: FakeProvider,
    scaler: Any,
    *,
    draining: bool = False,
    retiring: bool = False,
    held: int | None = None,
    idle_since: float | None = None,
) -> GroupRuntime:
    version = ManagedVersion(key="orders", spec=spec(), draining=draining)
    return GroupRuntime(
        version=version,
        group_id="g",
        group=version.spec.compute.scaling_groups["g"],
        connection=ResolvedConnection(address="unused:7233", namespace="default"),
        provider=provider,
        scaler=scaler,
        strategy=provider.strategy,
        target=QueueTarget(namespace="default", task_queues=("orders",)),
        state=GroupState(
            scaler_state=scaler.initial_state(0.0), held_size=held, idle_since=idle_since
        ),
        retiring=retiring,
    )


async def cycles(group: GroupRuntime, metrics: FakeMetrics, count: int = 1) -> GroupStatus:
    for _ in range(count):
        await run_cycle(group, metrics, monotonic=lambda: 5.0, wall_clock=lambda: 1000.0)
    assert group.status is not None
    return group.status


@pytest.mark.parametrize(
    ("case", "strategy", "running", "in_flight", "backlog", "decisions", "flags", "calls"),
    [
        ("worker set resizes", SET, 0, 0, 4, [SetSize(2, "r")], {}, [("set_size", 2)]),
        ("invoke starts", INV, 0, 0, 4, [StartWorkers(2, "r")], {}, [("invoke", 2)]),
        (
            "draining and idle past its cooldown: size 0",
            SET,
            2,
            0,
            0,
            [SetSize(2, "r")],
            {"draining": True, "idle_since": -60.0},
            [("set_size", 0)],
        ),
        (
            "draining and just idle: the size holds through the cooldown",
            SET,
            2,
            0,
            0,
            [SetSize(2, "r")],
            {"draining": True, "held": 2},
            [],
        ),
        (
            "draining and busy: the scaler decides",
            SET,
            2,
            1,
            0,
            [SetSize(3, "r")],
            {"draining": True},
            [("set_size", 3)],
        ),
        (
            "draining invoke and idle: starts nothing",
            INV,
            0,
            0,
            0,
            [StartWorkers(2, "r")],
            {"draining": True},
            [],
        ),
        (
            "removed group with open work never grows",
            SET,
            2,
            0,
            5,
            [SetSize(6, "r")],
            {"retiring": True, "held": 2},
            [],
        ),
        (
            "removed invoke group with open work starts nothing",
            INV,
            1,
            1,
            5,
            [StartWorkers(3, "r")],
            {"retiring": True},
            [],
        ),
        (
            "removed group, work done: size 0",
            SET,
            2,
            0,
            0,
            [SetSize(6, "r")],
            {"retiring": True, "held": 2},
            [("set_size", 0)],
        ),
        ("no reconcile before any size is held", SET, 1, 0, 0, [Hold("r")], {}, []),
    ],
)
async def test_rules(
    case: str,
    strategy: Strategy,
    running: int,
    in_flight: int,
    backlog: int,
    decisions: list[Decision],
    flags: dict[str, Any],
    calls: list[tuple[str, int]],
) -> None:
    provider = FakeProvider(strategy, running)
    provider.in_flight = in_flight
    group = runtime(provider, Scripted(decisions, strategy), **flags)
    status = await cycles(group, FakeMetrics(backlog))
    assert provider.calls == calls, case
    assert (status.metrics_ok, status.last_error, status.updated_at) == (True, None, 1000.0)


async def test_a_crashed_worker_is_replaced_to_the_held_size() -> None:
    provider = FakeProvider(SET)
    group = runtime(provider, Scripted([SetSize(3, "grow")]))
    await cycles(group, FakeMetrics(6))
    provider.running = 2  # one worker crashed
    status = await cycles(group, FakeMetrics(6))
    assert provider.calls == [("set_size", 3), ("set_size", 3)]
    assert (status.desired, status.last_decision, status.last_reason) == (
        3,
        "hold",
        "scripted hold",
    )
    await cycles(group, FakeMetrics(6))
    assert len(provider.calls) == 2  # back at the held size: nothing to do


async def test_metrics_unavailable_holds_and_never_scales_to_zero() -> None:
    scaler = build_scaler("backlog", {"min_count": 0, "target_per_worker": 4}, SET)
    provider = FakeProvider(SET, running=2)
    group = runtime(provider, scaler, held=2, draining=True, idle_since=-60.0)
    status = await cycles(group, FakeMetrics(None), count=3)
    assert provider.calls == []
    assert (status.metrics_ok, status.workers_running, status.desired) == (False, 2, 2)
    assert status.last_error == "metrics unavailable: server down"
    status = await cycles(group, FakeMetrics(0))
    # Seen idle again, and idle since before the blind cycles: the draining version drains.
    assert provider.calls == [("set_size", 0)]
    assert (status.metrics_ok, status.last_error) == (True, None)


@pytest.mark.parametrize(
    ("error", "validation"),
    [
        (ProviderError("slow down", kind="throttled"), None),
        (
            ProviderError("no such function", kind="not_found", retryable=False),
            "not_found: no such function",
        ),
        (RuntimeError("boom"), None),
    ],
)
async def test_a_provider_error_is_reported(error: Exception, validation: str | None) -> None:
    provider = FakeProvider(SET)
    provider.fail = error  # type: ignore[assignment]  # any exception, not only ProviderError
    group = runtime(provider, Scripted([SetSize(2, "grow")]))
    status = await cycles(group, FakeMetrics(4))
    assert status.last_error == f"provider: {error}"
    assert status.provider_validation_error == validation
    assert group.state.held_size == 2  # the size stays held: the next cycles ask again
    provider.fail = None
    status = await cycles(group, FakeMetrics(4))
    assert provider.calls[-1] == ("set_size", 2)
    assert status.last_error is None
    assert status.provider_validation_error == validation  # a config problem stays reported


@dataclass
class ListSource:
    versions: list[ManagedVersion]

    async def snapshot(self) -> list[ManagedVersion]:
        return self.versions


@dataclass
class RecordingSink:
    published: list[list[VersionStatus]] = field(default_factory=list)
    reported: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        self.published.append(list(versions))
        if any(v.readiness is Readiness.READY for v in versions):
            self.reported.set()


async def test_the_controller_builds_providers_and_publishes_version_status(
    tmp_path: Path,
) -> None:
    built: list[FakeProvider] = []

    def providers(
        type_name: str,
        details: Mapping[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        state_dir: Path,
    ) -> Provider:
        assert (type_name, group_id, deployment) == (
            "subprocess",
            "g",
            "orders",
        )
        built.append(FakeProvider(SET))
        return built[-1]

    version = ManagedVersion(key="orders", spec=spec(min_count=1), generation=7)
    sink = RecordingSink()
    controller = Controller(
        ListSource([version]),
        sink,
        ControllerSettings(state_dir=tmp_path),
        providers=providers,
        metrics=FakeMetrics(0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.wait_for(sink.reported.wait(), 30)
    stop.set()
    await task
    await controller.shutdown(drain=False)
    first = next(v for batch in sink.published for v in batch if v.readiness is not None)
    assert (first.version_key, first.generation) == ("orders", 7)
    assert [g.group_id for g in first.groups] == ["g"]
    # min_count 1: the first cycle saw no worker and asked for one; the next one saw it ready.
    # Status is published on a timer, so the first publish may already see it ready.
    assert (first.readiness, first.reason) in {
        (Readiness.UPDATE_IN_PROGRESS, "0 of 1 minimum workers polling"),
        (Readiness.READY, None),
    }
    assert built[0].calls[0] == ("set_size", 1)


class RecordingObserver:
    def __init__(self, fail: bool = False) -> None:
        self.reports: list[CycleReport] = []
        self.fail = fail

    def on_cycle(self, report: CycleReport) -> None:
        if self.fail:
            raise RuntimeError("observer bug")
        self.reports.append(report)


async def test_observers_hear_every_cycle_and_a_failing_one_is_skipped(tmp_path: Path) -> None:
    observer = RecordingObserver()
    sink = RecordingSink()
    controller = Controller(
        ListSource([ManagedVersion(key="orders", spec=spec(min_count=1))]),
        sink,
        ControllerSettings(state_dir=tmp_path),
        providers=lambda *a, **k: FakeProvider(SET),
        metrics=FakeMetrics(0),
        observers=(RecordingObserver(fail=True), observer),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.wait_for(sink.reported.wait(), 30)
    stop.set()
    await task
    await controller.shutdown(drain=False)
    first, second = observer.reports[:2]
    assert (first.version_key, first.group_id, first.previous) == ("orders", "g", None)
    assert first.plan.action == Resize(1, first.plan.decision.reason)
    assert first.failure is None and first.duration_s >= 0
    assert second.previous == first.status


async def test_every_cycle_reads_afresh_even_when_it_polls_faster_than_reads_are_shared(
    tmp_path: Path,
) -> None:
    """The shared-read window (1 s) is longer than the group's poll interval (0.1 s): another
    group's read may answer it, but never the group's own previous read. Before, a group polling
    every second was answered every other cycle by its own last read, and so saw a task landing
    on an idle queue up to 2 s late."""
    observer = RecordingObserver()
    metrics = FakeMetrics(0)
    controller = Controller(
        ListSource([ManagedVersion(key="orders", spec=spec())]),
        RecordingSink(),
        ControllerSettings(state_dir=tmp_path, shared_read_window_s=1.0),
        providers=lambda *a, **k: FakeProvider(SET),
        metrics=metrics,
        observers=(observer,),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    while len(observer.reports) < 4:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await controller.shutdown(drain=False)
    # One read per task type served (workflow and activity) per reported cycle; a cycle cut
    # short by the stop may have read without reporting.
    assert metrics.reads >= 2 * len(observer.reports)


@pytest.mark.parametrize(
    ("case", "running", "cached", "fresh", "reads", "seen_backlog"),
    [
        ("at zero, the fresh hint shows the task the cache hides", 0, 0, {"ACTIVITY": 1}, 1, 1),
        ("at zero, nothing waits anywhere", 0, 0, {"ACTIVITY": 0}, 1, 0),
        ("at zero, the hint cannot be read: the cached stats decide", 0, 0, None, 1, 0),
        ("at zero, the cached backlog is as old as the cache: read", 0, 3, {"ACTIVITY": 9}, 1, 9),
        ("a worker polls and takes new tasks itself: no extra read", 1, 0, {"ACTIVITY": 1}, 0, 0),
        ("every slot of the polling worker is busy: read", (1, 4), 0, {"ACTIVITY": 6}, 1, 6),
        ("... even with a (stale) backlog cached", (1, 4), 3, {"ACTIVITY": 6}, 1, 6),
        ("a slot is free: no extra read", (1, 3), 0, {"ACTIVITY": 6}, 0, 0),
    ],
)
async def test_a_group_reads_the_fresh_backlog_when_no_slot_is_free(
    case: str,
    running: int | tuple[int, int],
    cached: int,
    fresh: dict[str, int] | None,
    reads: int,
    seen_backlog: int,
) -> None:
    """``running`` is a worker count, or ``(workers, tasks in flight)`` of 4-slot workers."""
    scaler = Scripted([])
    provider = FakeProvider(SET, running=running if isinstance(running, int) else running[0])
    if isinstance(running, tuple):
        provider.in_flight, provider.slots = running[1], 4
    group = runtime(provider, scaler)
    metrics = FakeMetrics(cached, fresh)
    status = await cycles(group, metrics)
    assert metrics.fresh_reads == reads, case
    [seen] = scaler.seen
    assert seen is not None and seen.stats.backlog_count == seen_backlog, case
    assert status.backlog == seen_backlog, case


@dataclass
class BeatingMetrics(FakeMetrics):
    """Also serves the workers' heartbeats; ``None`` means ``ListWorkers`` fails."""

    beats: dict[str, WorkerBeat] | None = field(default_factory=dict)
    beat_reads: int = 0

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        self.beat_reads += 1
        if self.beats is None:
            raise MetricsUnavailable("ListWorkers: unimplemented")
        return self.beats


class CountlessProvider(FakeProvider):
    """A provider that knows how many workers it holds, not what they run (ECS, Cloud Run)."""

    async def census(self) -> WorkerCensus:
        return WorkerCensus(running=self.running)


async def test_a_group_whose_provider_cannot_count_its_tasks_counts_them_from_heartbeats() -> None:
    provider = CountlessProvider(SET, running=2)
    group = runtime(provider, Scripted([]))
    marker = WorkerMarker("orders", "default", "g")
    group.beats = MarkedWorkersCensus(marker, clock=lambda: 5.0)
    mine = worker_identity("1@host", marker)
    theirs = worker_identity("2@host", WorkerMarker("orders", "default", "other"))
    metrics = BeatingMetrics(
        beats={
            mine: WorkerBeat(mine, "orders", True, 100.0, 3, 7, activity_slots=4),
            theirs: WorkerBeat(theirs, "orders", True, 100.0, 4, 9, activity_slots=4),
        }
    )
    status = await cycles(group, metrics)
    assert (status.workers_running, status.workers_ready, status.in_flight) == (2, 1, 3)

    metrics.beats = None  # the read fails: the census is the provider's, the cycle goes on
    status = await cycles(group, metrics)
    assert (status.workers_ready, status.in_flight) == (None, None)
    assert metrics.beat_reads == 2

    provider.running = 0  # nothing runs, nothing beats: nothing to read
    group.beats = MarkedWorkersCensus(marker, clock=lambda: 5.0)
    await cycles(group, metrics)
    assert metrics.beat_reads == 2
