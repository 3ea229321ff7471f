"""A version's readiness from its groups' statuses: a table, no database."""

from __future__ import annotations

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.planning.status import GroupStatus
from workerplane.store.lifecycle import READY, UPDATE_FAILED, UPDATE_IN_PROGRESS, readiness

SPEC = DeploymentSpec.model_validate(
    {
        "name": "d.v1",
        "task_queues": ["q"],
        "compute": {"scaling_groups": {"g": {
            "provider": {"type": "subprocess", "details": {"command": "python"}},
            "scaler": {"type": "backlog", "details": {"min_count": 2, "max_count": 4}},
        }}},
    }
)  # fmt: skip


def _status(group_id: str = "g", **changes: object) -> GroupStatus:
    values: dict[str, object] = {
        "version_key": "d/v1", "group_id": group_id, "provider_type": "subprocess",
        "scaler_type": "backlog", "strategy": "worker-set", "workers_running": 2,
        "workers_ready": None, "in_flight": None, "pollers": 2, "backlog": 0,
        "backlog_age_s": 0.0, "add_rate": 0.0, "dispatch_rate": 0.0, "desired": 2,
        "last_decision": "hold", "last_reason": "", "last_error": None,
        "provider_validation_error": None, "metrics_ok": True, "updated_at": 0.0,
    }  # fmt: skip
    values.update(changes)
    return GroupStatus(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("groups", "draining", "expected"),
    [
        ([], False, None),
        ([_status("other")], False, None),
        ([_status()], False, (READY, None)),
        ([_status(pollers=1)], False, (UPDATE_IN_PROGRESS, "1 of 2 minimum workers polling")),
        ([_status(pollers=1)], True, (READY, None)),
        ([_status(workers_ready=0)], False, (UPDATE_IN_PROGRESS, "0 of 2 minimum workers polling")),
        ([_status(pollers=0, last_error="boom")], False, (UPDATE_FAILED, "boom")),
        (
            [_status(provider_validation_error="no such command")],
            False,
            (UPDATE_FAILED, "provider validation failed: no such command"),
        ),
    ],
)
def test_readiness(
    groups: list[GroupStatus], draining: bool, expected: tuple[str, str | None] | None
) -> None:
    verdict = readiness(SPEC, groups, draining=draining)
    assert (None if verdict is None else (verdict.status, verdict.reason)) == expected
