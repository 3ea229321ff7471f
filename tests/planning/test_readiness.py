"""Table tests of a version's readiness (the store's former rules, now the controller's)."""

from __future__ import annotations

import dataclasses

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.planning.readiness import version_status, version_statuses
from workerplane.planning.status import GroupStatus, ManagedVersion, Readiness

SPEC = DeploymentSpec.model_validate(
    {
        "name": "orders",
        "task_queues": ["orders"],
        "compute": {
            "scaling_groups": {
                "wf": {"scaler": {"details": {"min_count": 1}}},
                "act": {"scaler": {"details": {"min_count": 2}}},
            }
        },
    }
)
VERSION = ManagedVersion(key="orders", spec=SPEC, generation=4)
DRAINING = dataclasses.replace(VERSION, draining=True)


def group(
    group_id: str,
    *,
    ready: int | None = 0,
    running: int = 0,
    pollers: int = 0,
    error: str | None = None,
    validation: str | None = None,
    key: str = "orders",
) -> GroupStatus:
    return GroupStatus(
        version_key=key,
        group_id=group_id,
        provider_type="subprocess",
        scaler_type="backlog",
        strategy="worker-set",
        workers_running=running,
        workers_ready=ready,
        in_flight=0,
        pollers=pollers,
        backlog=0,
        backlog_age_s=0.0,
        add_rate=0.0,
        dispatch_rate=0.0,
        desired=None,
        last_decision="hold",
        last_reason="",
        last_error=error,
        provider_validation_error=validation,
        metrics_ok=True,
        updated_at=0.0,
    )


@pytest.mark.parametrize(
    ("case", "version", "groups", "readiness", "reason"),
    [
        ("a group has not reported", VERSION, [group("wf", ready=5, running=5)], None, None),
        (
            "at the minimum",
            VERSION,
            [group("wf", ready=1, running=1), group("act", ready=2, running=2)],
            Readiness.READY,
            None,
        ),
        (
            "below the minimum, scaling",
            VERSION,
            [group("wf", ready=1, running=1), group("act", ready=0, running=2)],
            Readiness.UPDATE_IN_PROGRESS,
            "1 of 3 minimum workers polling",
        ),
        (
            "below the minimum with an error",
            VERSION,
            [group("wf"), group("act", error="provider: throttled")],
            Readiness.UPDATE_FAILED,
            "provider: throttled",
        ),
        (
            "an error at the minimum is still ready",
            VERSION,
            [group("wf", ready=3, running=3), group("act", error="provider: throttled")],
            Readiness.READY,
            None,
        ),
        (
            "validation failed",
            VERSION,
            [group("wf", ready=3, running=3), group("act", validation="not_found: no such fn")],
            Readiness.UPDATE_FAILED,
            "provider validation failed: not_found: no such fn",
        ),
        (
            "no ready count: pollers, capped by the running workers",
            VERSION,
            [
                group("wf", ready=None, running=1, pollers=9),
                group("act", ready=None, running=2, pollers=2),
            ],
            Readiness.READY,
            None,
        ),
        (
            "lingering pollers of gone workers do not count",
            VERSION,
            [group("wf", ready=None, running=0, pollers=9), group("act", ready=2, running=2)],
            Readiness.UPDATE_IN_PROGRESS,
            "2 of 3 minimum workers polling",
        ),
        ("draining needs no minimum", DRAINING, [group("wf"), group("act")], Readiness.READY, None),
        (
            "another version's groups are ignored",
            VERSION,
            [group("wf", ready=9, running=9, key="other"), group("act", ready=9, running=9)],
            None,
            None,
        ),
    ],
)
def test_readiness(
    case: str,
    version: ManagedVersion,
    groups: list[GroupStatus],
    readiness: Readiness | None,
    reason: str | None,
) -> None:
    status = version_status(version, groups)
    assert (status.readiness, status.reason) == (readiness, reason), case
    assert status.groups == tuple(g for g in groups if g.version_key == "orders")
    assert (status.version_key, status.generation) == ("orders", 4)


@pytest.mark.parametrize(
    ("groups", "drained"),
    [
        ([], True),
        ([group("wf"), group("act")], True),
        ([group("wf"), group("act", running=1)], False),
    ],
)
def test_drained_once_no_worker_runs(groups: list[GroupStatus], drained: bool) -> None:
    assert version_status(DRAINING, groups).drained is drained


def test_validation_error_is_reported_on_its_own() -> None:
    status = version_status(VERSION, [group("wf", validation="invalid: x"), group("act")])
    assert status.validation_error == "invalid: x"
    assert version_status(VERSION, [group("wf"), group("act")]).validation_error is None


def test_every_version_gets_a_status() -> None:
    other = ManagedVersion(key="other", spec=SPEC)
    keys = [s.version_key for s in version_statuses([VERSION, other], [group("wf")])]
    assert keys == ["orders", "other"]
