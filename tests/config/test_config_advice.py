"""Warnings on valid specs: an ``slo`` below what a task can get when no worker runs. A table."""

from __future__ import annotations

from typing import Any

import pytest

from workerplane.config.advice import spec_warnings
from workerplane.config.model import DeploymentSpec
from workerplane.config.validation import validate_spec


def spec(
    scaler: dict[str, Any], *, strategy: str = "worker-set", versioned: bool = False
) -> DeploymentSpec:
    doc: dict[str, Any] = {
        "name": "orders",
        "task_queues": ["orders"],
        "compute": {
            "scaling_groups": {
                "g": {
                    "provider": {
                        "type": "subprocess",
                        "details": {"command": "python", "strategy": strategy},
                    },
                    "scaler": scaler,
                }
            }
        },
    }
    if versioned:
        doc["deployment"] = {"name": "orders", "build_id": "v1"}
    return DeploymentSpec.model_validate(doc)


def slo(ms: int, **more: int) -> dict[str, Any]:
    return {"details": {"schedule_to_start_slo_ms": ms, "metrics_poll_interval_ms": 500, **more}}


@pytest.mark.parametrize(
    ("case", "spec", "minimum"),
    [
        # fresh hint 300 + poll 500 + a subprocess worker's typical startup 1000
        ("1 s SLO", spec(slo(1_000)), 1_800),
        ("5 s SLO", spec(slo(5_000)), None),
        ("invoke, 1 s SLO", spec(slo(1_000), strategy="invoke"), 1_800),
        ("a startup hint sets the floor", spec(slo(5_000, worker_startup_ms=9_000)), 9_800),
        ("a warm worker is the user's choice", spec(slo(1_000, max_warm_idle_ms=60_000)), None),
        # versioned: no fresh hint, the 5 s stats cache instead of 300 ms
        ("versioned, 5 s SLO", spec(slo(5_000), versioned=True), 6_500),
        ("not an slo scaler", spec({"type": "backlog", "details": {}}), None),
    ],
)
def test_slo_below_reachable(case: str, spec: DeploymentSpec, minimum: int | None) -> None:
    assert validate_spec(spec) == [], case
    warnings = spec_warnings(spec)
    if minimum is None:
        assert warnings == [], case
        return
    [warning] = warnings
    assert warning.code == "slo-below-reachable"
    assert warning.group == "g"
    assert warning.path == "compute.scaling_groups.g.scaler.details.schedule_to_start_slo_ms"
    assert f"at least {minimum}" in warning.rule, (case, warning.rule)
