"""Reads that groups share are made once, and each one is paid for in the budget."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from workerplane.controller.budget import USAGE_WINDOW_S, CallBudget
from workerplane.controller.interfaces import MetricsSource
from workerplane.controller.shared_reads import SharedReads, read_max_age_s
from workerplane.planning.worker_beats import WorkerBeat
from workerplane.scaling.types import QueueStats
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.fresh import DEFAULT_PARTITIONS
from workerplane.temporal.metrics import QueueTarget

CONNECTION = ResolvedConnection(address="unused:7233", namespace="default")


@dataclass
class CountingSource:
    """Records every read; serves ``backlog`` per queue on every type."""

    backlog: dict[str, int] = field(default_factory=dict)
    reads: list[QueueTarget] = field(default_factory=list)
    fresh_reads: list[QueueTarget] = field(default_factory=list)
    beats: list[WorkerBeat] = field(default_factory=list)
    beat_reads: list[QueueTarget] = field(default_factory=list)
    #: ``(queue, type) -> {identity: last poll}``.
    polls: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    poller_reads: list[QueueTarget] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def __call__(self, connection: ResolvedConnection) -> MetricsSource:
        return self

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        self.reads.append(target)
        if self.gate is not None:
            await self.gate.wait()
        count = sum(self.backlog.get(q, 0) for q in target.task_queues)
        return {t: QueueStats(backlog_count=count) for t in target.task_queue_types}

    async def read_fresh(self, target: QueueTarget) -> Mapping[str, int]:
        self.fresh_reads.append(target)
        return dict.fromkeys(target.task_queue_types, 0)

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        self.beat_reads.append(target)
        (queue,) = target.task_queues
        return {b.identity: b for b in self.beats if b.task_queue == queue}

    async def read_pollers(self, target: QueueTarget) -> Mapping[str, float]:
        self.poller_reads.append(target)
        ((queue, queue_type),) = [
            (q, t) for q in target.task_queues for t in target.task_queue_types
        ]
        return self.polls.get((queue, queue_type), {})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reads_of(
    source: CountingSource, clock: Clock, woken: list[tuple[str, str]] | None = None
) -> SharedReads:
    budget = CallBudget(1000, clock=clock)
    return SharedReads(
        source,
        budget,
        window_s=1.0,
        clock=clock,
        on_backlog=lambda ns, q: woken.append((ns, q)) if woken is not None else None,
    )


def target(*queues: str, types: tuple[str, ...] = ("WORKFLOW", "ACTIVITY")) -> QueueTarget:
    return QueueTarget("default", queues, types)


async def test_groups_sharing_a_queue_share_its_reads_within_the_window() -> None:
    source, clock = CountingSource(backlog={"orders": 2}), Clock()
    reads = reads_of(source, clock)
    view = await reads(CONNECTION)
    first = await view.read(target("orders"))
    second = await view.read(target("orders", "billing"))  # orders again, plus billing
    assert first["ACTIVITY"].backlog_count == 2
    assert second["ACTIVITY"].backlog_count == 2
    assert sorted((t.task_queues[0], t.task_queue_types[0]) for t in source.reads) == [
        ("billing", "ACTIVITY"),
        ("billing", "WORKFLOW"),
        ("orders", "ACTIVITY"),
        ("orders", "WORKFLOW"),
    ]
    clock.now = 1.5  # past the window: read again
    await view.read(target("orders"))
    assert len(source.reads) == 6


async def test_a_cycle_is_never_answered_by_a_read_older_than_it_accepts() -> None:
    """A group polling every second, with a one-second window, must not get back its own last
    read: it would then read half as often as it asked (a task on an idle queue waited 2 s)."""
    source, clock = CountingSource(), Clock()
    view = await reads_of(source, clock)(CONNECTION)

    async def cycle(max_age_s: float) -> None:
        read_max_age_s.set(max_age_s)
        await view.read(target("orders", types=("ACTIVITY",)))
        await view.read_fresh(target("orders", types=("ACTIVITY",)))

    await asyncio.create_task(cycle(0.5))
    clock.now = 0.4  # another group half a poll later shares both reads
    await asyncio.create_task(cycle(0.5))
    assert len(source.reads) == 1
    assert len(source.fresh_reads) == 1
    clock.now = 0.9  # the first group's next cycle: inside the window, but older than it accepts
    await asyncio.create_task(cycle(0.5))
    assert len(source.reads) == 2
    assert len(source.fresh_reads) == 2
    clock.now = 1.6  # a caller that sets no bound takes anything within the window
    await view.read(target("orders", types=("ACTIVITY",)))
    assert len(source.reads) == 2


async def test_reads_in_flight_are_joined() -> None:
    source, clock = CountingSource(gate=asyncio.Event()), Clock()
    view = await reads_of(source, clock)(CONNECTION)
    pending = [asyncio.create_task(view.read(target("orders"))) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert source.gate is not None
    source.gate.set()
    await asyncio.gather(*pending)
    assert len(source.reads) == 2  # one per type, for five groups


async def test_a_versions_groups_share_one_describe_covering_all_their_types() -> None:
    source, clock = CountingSource(), Clock()
    reads = reads_of(source, clock)
    workflows = QueueTarget("default", ("orders",), ("WORKFLOW",), "orders", "v2")
    activities = QueueTarget("default", ("orders",), ("ACTIVITY",), "orders", "v2")
    reads.register(workflows)
    reads.register(activities)
    view = await reads(CONNECTION)
    seen = await asyncio.gather(view.read(workflows), view.read(activities))
    assert [set(s) for s in seen] == [{"WORKFLOW"}, {"ACTIVITY"}]
    [describe] = source.reads
    assert set(describe.task_queue_types) == {"WORKFLOW", "ACTIVITY"}
    reads.unregister(activities)
    assert reads.widened(workflows) == workflows


async def test_every_read_takes_its_calls_from_the_budget() -> None:
    source, clock = CountingSource(), Clock()
    reads = reads_of(source, clock)
    view = await reads(CONNECTION)
    await view.read(target("a", "b"))  # 2 queues x 2 types
    await view.read_fresh(target("c", types=("ACTIVITY",)))  # 4 partitions
    assert reads.budget.usage().rps_used * 10 == 4 + 4


async def test_backlog_seen_by_one_read_wakes_the_queue() -> None:
    source, clock = CountingSource(backlog={"orders": 1}), Clock()
    woken: list[tuple[str, str]] = []
    view = await reads_of(source, clock, woken)(CONNECTION)
    await view.read(target("orders", "quiet"))
    assert ("default", "orders") in woken


async def test_heartbeats_are_read_once_per_queue_and_paid_for() -> None:
    """Two groups of one queue share its ``ListWorkers``; a worker listed on two queues comes
    back once, with its newest heartbeat."""
    both_old = WorkerBeat("w1", "orders", True, 10.0, 1, 0)
    both_new = WorkerBeat("w1", "billing", True, 11.0, 2, 1)
    other = WorkerBeat("w2", "orders", True, 10.5, 0, 4)
    source, clock = CountingSource(beats=[both_old, both_new, other]), Clock()
    reads = reads_of(source, clock)
    view = await reads(CONNECTION)
    first = await view.read_beats(target("orders", "billing"))
    second = await view.read_beats(target("orders"))
    assert first == {"w1": both_new, "w2": other}
    assert second == {"w1": both_old, "w2": other}
    assert sorted(t.task_queues[0] for t in source.beat_reads) == ["billing", "orders"]
    assert reads.budget.usage().rps_used * USAGE_WINDOW_S == 2, "one call per queue"


async def test_pollers_are_read_once_per_queue_and_type_and_paid_per_partition() -> None:
    """Two groups of one queue (a Lambda census each) share its poller lists; a worker polling
    several (queue, type) pairs keeps its newest poll; each pair costs one call per partition."""
    source, clock = CountingSource(), Clock()
    source.polls = {
        ("orders", "WORKFLOW"): {"w1": 10.0, "w2": 12.0},
        ("orders", "ACTIVITY"): {"w1": 11.0},
        ("billing", "ACTIVITY"): {"w3": 9.0},
    }
    reads = reads_of(source, clock)
    view = await reads(CONNECTION)
    first = await view.read_pollers(target("orders"))
    second = await view.read_pollers(target("orders", "billing"))
    assert first == {"w1": 11.0, "w2": 12.0}
    assert second == {"w1": 11.0, "w2": 12.0, "w3": 9.0}
    assert len(source.poller_reads) == 4, "orders' two pairs once, billing's two pairs once"
    used = reads.budget.usage().rps_used * USAGE_WINDOW_S
    assert used == 4 * DEFAULT_PARTITIONS, "every partition of every pair is one call"
