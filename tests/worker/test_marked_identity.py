"""Workers started by workerplane poll under an identity marked with their deployment; the
marker comes from the environment every provider passes them."""

from __future__ import annotations

from workerplane.config.model import DeploymentSpec
from workerplane.controller.groups import GroupParts
from workerplane.planning.identity import MARKER_ENV, WorkerMarker, parse_identity
from workerplane.planning.status import ManagedVersion
from workerplane.providers.aws_lambda.census import invocation_of, worker_identity
from workerplane.worker.identity import marked_identity


def _spec(**extra: object) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": ["orders"],
            "compute": {"scaling_groups": {"workers": {"provider": {"type": "subprocess"}}}},
            **extra,
        }
    )


def test_a_groups_workers_get_their_deployments_marker() -> None:
    unversioned = GroupParts.of(
        ManagedVersion("orders", _spec()), "workers", "127.0.0.1:7233", None
    )
    assert unversioned.worker_env().as_env()[MARKER_ENV] == "wp:orders/default/workers"
    versioned = GroupParts.of(
        ManagedVersion("orders/v2", _spec(deployment={"name": "orders-d", "build_id": "v2"})),
        "workers",
        "127.0.0.1:7233",
        None,
    )
    assert versioned.worker_env().as_env()[MARKER_ENV] == "wp:orders/v2/workers"


def test_the_runtime_marks_its_identity_from_the_environment() -> None:
    environ = {MARKER_ENV: "wp:orders/default/workers"}
    identity = marked_identity(environ=environ)
    assert identity is not None
    assert parse_identity(identity).marker == WorkerMarker("orders", "default", "workers")
    assert marked_identity("base", environ) == "base@wp:orders/default/workers"
    assert marked_identity(environ={}) is None, "a worker not started by workerplane: SDK default"


def test_a_marked_lambda_identity_still_names_its_invocation() -> None:
    marked = marked_identity(worker_identity("inv-1"), {MARKER_ENV: "wp:o/default/g"})
    assert marked is not None
    assert invocation_of(marked) == "inv-1"
    assert invocation_of(worker_identity("inv-2")) == "inv-2"
    assert invocation_of("42@host") is None
