"""A few cycles of two fake groups that touch every counter and histogram, through the real
``run_cycle`` and the real :class:`CycleMetrics` observer (shared by the metrics tests)."""

from __future__ import annotations

import itertools

from tests.controller.test_controller_unit import FakeMetrics, FakeProvider, Scripted, runtime
from workerplane.controller.cycle import GroupRuntime, run_cycle
from workerplane.controller.prometheus import ProcessMetrics
from workerplane.providers.base import ProviderError
from workerplane.scaling.types import Hold, SetSize, StartWorkers, Strategy


async def _cycle(
    group: GroupRuntime, metrics: FakeMetrics, process: ProcessMetrics, clock: itertools.count[int]
) -> None:
    at = float(next(clock))
    report = await run_cycle(group, metrics, monotonic=lambda: at, wall_clock=lambda: 1000.0 + at)
    process.cycles.on_cycle(report)


async def drive(process: ProcessMetrics) -> tuple[GroupRuntime, GroupRuntime]:
    """Scale a worker-set group up, see its workers poll, scale it down, fail a provider call,
    lose the stats, read the fresh backlog hint at zero; and invoke workers of another group.
    Both groups' statuses are tracked by ``process``."""
    clock = itertools.count()
    provider = FakeProvider(Strategy.WORKER_SET)
    decisions = [SetSize(2, "backlog"), Hold("wait"), SetSize(0, "idle"), Hold("?"), Hold("0")]
    worker_set = runtime(provider, Scripted([*decisions, SetSize(1, "up")]))
    invoked = runtime(FakeProvider(Strategy.INVOKE), Scripted([StartWorkers(2, "burst")]))
    invoked.group_id = "lambda"
    process.track(lambda: [g.status for g in (worker_set, invoked) if g.status is not None])
    metrics = FakeMetrics(backlog=4)
    await _cycle(worker_set, metrics, process, clock)  # scale up to 2
    await _cycle(worker_set, metrics, process, clock)  # both poll: two waits measured
    await _cycle(worker_set, metrics, process, clock)  # scale down to 0
    await _cycle(worker_set, FakeMetrics(backlog=None), process, clock)  # stats unavailable
    await _cycle(worker_set, FakeMetrics(backlog=0, fresh={"ACTIVITY": 1}), process, clock)
    provider.fail = ProviderError("slow down", kind="throttled")
    await _cycle(worker_set, metrics, process, clock)  # set_size 1 is throttled
    await _cycle(invoked, metrics, process, clock)
    return worker_set, invoked
