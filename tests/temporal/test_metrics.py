"""The version read when the server refuses it as busy.

The server answers ``DescribeWorkerDeploymentVersion`` by querying the version's workflow and
refuses with ``RESOURCE_EXHAUSTED`` while that workflow is busy: seen on the dev server during a
rollout and drainage checks every second, but not on demand. So the refusal is injected here
into a stand-in for the client's workflow service; what the source does with the replies is the
code under test. The reads against the real server are covered by
``tests/controller/test_sunset_e2e.py`` and ``tests/controller/test_rollout_e2e.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueueStats
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueResponse,
    DescribeWorkerDeploymentVersionResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from workerplane.temporal import metrics
from workerplane.temporal.metrics import MetricsUnavailable, QueueTarget, TemporalMetricsSource

TARGET = QueueTarget(
    namespace="default", task_queues=("orders",), task_queue_types=("ACTIVITY",),
    deployment_name="orders-dep", build_id="v2",
)  # fmt: skip


def reply(backlog: int) -> DescribeWorkerDeploymentVersionResponse:
    response = DescribeWorkerDeploymentVersionResponse()
    queue = response.version_task_queues.add()
    queue.name = "orders"
    queue.type = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    queue.stats.CopyFrom(TaskQueueStats(approximate_backlog_count=backlog))
    return response


class Service:
    """The client's workflow service: the replies (or refusals) given, in order."""

    def __init__(self, answers: list[DescribeWorkerDeploymentVersionResponse | RPCError]) -> None:
        self.answers = answers

    async def describe_worker_deployment_version(self, *_: Any, **__: Any) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, RPCError):
            raise answer
        return answer

    async def describe_task_queue(self, *_: Any, **__: Any) -> DescribeTaskQueueResponse:
        return DescribeTaskQueueResponse()


class Client:
    def __init__(self, service: Service) -> None:
        self.workflow_service = service


BUSY = RPCError(
    "too many requests issued to Worker Deployment", RPCStatusCode.RESOURCE_EXHAUSTED, b""
)
DOWN = RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")


async def test_a_refused_read_takes_the_last_reply_while_it_is_recent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    source = TemporalMetricsSource(Client(Service([reply(7), BUSY, BUSY, reply(3)])))  # type: ignore[arg-type]
    assert (await source.read(TARGET))["ACTIVITY"].backlog_count == 7
    clock[0] += metrics.REFUSED_REPLY_REUSE_S
    assert (await source.read(TARGET))["ACTIVITY"].backlog_count == 7  # refused: the last reply
    clock[0] += 0.1
    with pytest.raises(MetricsUnavailable, match="too many requests"):
        await source.read(TARGET)  # refused, and the last reply is too old to stand in
    assert (await source.read(TARGET))["ACTIVITY"].backlog_count == 3


async def test_other_errors_and_a_first_refusal_are_not_hidden() -> None:
    source = TemporalMetricsSource(Client(Service([BUSY, reply(1), DOWN])))  # type: ignore[arg-type]
    with pytest.raises(MetricsUnavailable):
        await source.read(TARGET)  # no earlier reply to stand in
    assert (await source.read(TARGET))["ACTIVITY"].backlog_count == 1
    with pytest.raises(MetricsUnavailable, match="unavailable"):
        await source.read(TARGET)


async def test_replies_no_read_can_use_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rollout adds a version: a long-lived controller must not keep one entry per version
    it ever read."""
    clock = [100.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    source = TemporalMetricsSource(Client(Service([reply(1), reply(2)])))  # type: ignore[arg-type]
    old = dataclasses.replace(TARGET, build_id="v1")
    await source.read(old)
    clock[0] += metrics.POLLER_REFRESH_S
    await source.read(TARGET)
    assert set(source._version_replies) == {("default", "orders-dep", "v2")}
    assert [key[1] for key in source._pollers] == ["v2"]
