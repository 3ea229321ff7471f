"""A provider whose census reads its workers (Lambda) reads them through the controller.

The controller hands such a group :class:`GroupWorkerReads`: its polls and heartbeats come from
the controller's shared reads, answered once for every group of a queue and paid for in the
call budget, instead of a Temporal client of the provider's own per group. Other groups get no
reads. Fake metrics and providers, real controller code.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controller.test_controller_unit import SET, FakeMetrics, FakeProvider, ListSource
from tests.controller.test_controller_unit import RecordingSink as Sink
from tests.planning.test_events import status as running_status
from workerplane.config.model import DeploymentSpec
from workerplane.controller.controller import Controller
from workerplane.controller.cycle import GroupRuntime
from workerplane.controller.runner import _cycle_calls
from workerplane.controller.settings import ControllerSettings
from workerplane.controller.worker_reads import GroupWorkerReads
from workerplane.planning.status import ManagedVersion
from workerplane.planning.worker_beats import WorkerBeat
from workerplane.providers.base import Provider, WorkerEnvironment
from workerplane.temporal.fresh import DEFAULT_PARTITIONS
from workerplane.temporal.metrics import QueueTarget

LAMBDA = {
    "type": "aws-lambda",
    "details": {"arn": "arn:aws:lambda:us-east-1:123456789012:function:w", "region": "us-east-1"},
}
LOCAL = {"type": "subprocess", "details": {"command": ["true"], "strategy": "worker-set"}}


def spec() -> DeploymentSpec:
    scaler = {"type": "backlog", "details": {"min_count": 0, "metrics_poll_interval_ms": 100}}
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": ["orders"],
            "compute": {
                "scaling_groups": {
                    "fn": {"provider": LAMBDA, "scaler": scaler},
                    "local": {"provider": LOCAL, "scaler": scaler},
                }
            },
        }
    )


@dataclass
class PollingMetrics(FakeMetrics):
    """Also serves poller lists and heartbeats, counting the reads."""

    polls: dict[str, float] = field(default_factory=lambda: {"w": 100.0})
    poller_reads: list[QueueTarget] = field(default_factory=list)
    beat_reads: list[QueueTarget] = field(default_factory=list)

    async def read_pollers(self, target: QueueTarget) -> Mapping[str, float]:
        self.poller_reads.append(target)
        return self.polls

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        self.beat_reads.append(target)
        return {}


async def test_a_lambda_group_reads_its_workers_through_the_controllers_shared_budget(
    tmp_path: Path,
) -> None:
    given: dict[str, dict[str, Any]] = {}
    built = asyncio.Event()

    def providers(
        type_name: str,
        details: Mapping[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        state_dir: Path,
        **extras: Any,
    ) -> Provider:
        given[group_id] = extras
        if len(given) == 2:
            built.set()
        return FakeProvider(SET)

    metrics = PollingMetrics(0)
    controller = Controller(
        ListSource([ManagedVersion(key="orders", spec=spec(), generation=1)]),
        Sink(),
        ControllerSettings(state_dir=tmp_path),
        providers=providers,
        metrics=metrics,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.wait_for(built.wait(), 30)
    stop.set()
    await task
    await controller.shutdown(drain=False)

    assert "worker_reads" not in given["local"], "only a census that reads its workers gets them"
    reads = given["fn"]["worker_reads"]
    assert isinstance(reads, GroupWorkerReads)
    budget = controller._budget
    spent_before = budget.usage().rps_used
    assert await reads.last_polls() == {"w": 100.0}
    assert await reads.last_polls() == {"w": 100.0}, "the second read is shared"
    assert await reads.beats() == {}
    types = ("WORKFLOW", "ACTIVITY")
    assert sorted(t.task_queue_types for t in metrics.poller_reads) == sorted((t,) for t in types)
    assert len(metrics.beat_reads) == 1
    assert budget.usage().rps_used > spent_before, "the reads were paid for"


def test_a_lambda_groups_cycle_budget_counts_its_census_reads(tmp_path: Path) -> None:
    version = ManagedVersion(key="orders", spec=spec(), generation=1)
    lambda_group = spec().compute.scaling_groups["fn"]
    local_group = spec().compute.scaling_groups["local"]
    target = QueueTarget("default", ("orders",), ("WORKFLOW", "ACTIVITY"))

    def runtime(group: Any, running: int) -> GroupRuntime:
        status = dataclasses.replace(running_status(), workers_running=running)
        return GroupRuntime(
            version=version, group_id="g", group=group, connection=None,  # type: ignore[arg-type]
            provider=FakeProvider(SET), scaler=None, strategy=SET,  # type: ignore[arg-type]
            target=target, state=None, status=status,  # type: ignore[arg-type]
        )  # fmt: skip

    stats = 2  # one DescribeTaskQueue per (queue, type)
    census_reads = 2 * DEFAULT_PARTITIONS + 1  # every partition's pollers, one ListWorkers
    assert _cycle_calls(runtime(lambda_group, 3), fresh_signals=False) == stats + census_reads
    assert _cycle_calls(runtime(local_group, 3), fresh_signals=False) == stats
    assert _cycle_calls(runtime(lambda_group, 0), fresh_signals=False) == stats, "none to read"
