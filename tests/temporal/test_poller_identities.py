"""The stats read lists the identities of the pollers Temporal reports, per build when the
target is versioned; summing stats over queue types keeps one of each."""

from __future__ import annotations

from temporalio.api.deployment.v1 import WorkerDeploymentOptions
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueueStats
from temporalio.api.workflowservice.v1 import DescribeTaskQueueResponse

from workerplane.scaling.types import QueueStats
from workerplane.temporal.metrics import _from_proto, _pollers


def _response() -> DescribeTaskQueueResponse:
    return DescribeTaskQueueResponse(
        pollers=[
            PollerInfo(identity="1@a", deployment_options=WorkerDeploymentOptions(build_id="v1")),
            PollerInfo(identity="2@b", deployment_options=WorkerDeploymentOptions(build_id="v2")),
            PollerInfo(identity="3@by-hand"),
        ]
    )


def test_every_poller_identity_is_read_or_those_of_the_build() -> None:
    assert _pollers(_response(), None) == ("1@a", "2@b", "3@by-hand")
    assert _pollers(_response(), "v2") == ("2@b",)
    stats = _from_proto(TaskQueueStats(), _pollers(_response(), None))
    assert stats.pollers == 3
    assert stats.poller_identities == frozenset({"1@a", "2@b", "3@by-hand"})


def test_stats_summed_over_types_keep_one_identity_per_poller() -> None:
    workflow = QueueStats(pollers=2, poller_identities=frozenset({"1@a", "3@by-hand"}))
    activity = QueueStats(pollers=1, poller_identities=frozenset({"1@a"}))
    summed = workflow + activity
    assert summed.pollers == 2
    assert summed.poller_identities == frozenset({"1@a", "3@by-hand"})
