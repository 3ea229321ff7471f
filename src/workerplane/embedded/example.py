"""Specs for the example worker (``python -m examples.worker``): one place that builds them for
``workerplane up``'s companions - the benchmarks, the simulator's calibration and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: The repository root: ``examples/`` lives there, and the example workers run from it.
REPO_ROOT = Path(__file__).resolve().parents[3]


def example_worker_group(
    *,
    cwd: Path | str,
    scaler_type: str = "backlog",
    scaler_details: dict[str, Any] | None = None,
    task_queue_types: list[str] | None = None,
    **provider_details: Any,
) -> dict[str, Any]:
    """A scaling group whose subprocess provider runs the example worker from ``cwd``."""
    return {
        "task_queue_types": task_queue_types or [],
        "provider": {
            "type": "subprocess",
            "details": {
                "command": "python",
                "args": ["-m", "examples.worker"],
                "cwd": str(cwd),
                **provider_details,
            },
        },
        "scaler": {"type": scaler_type, "details": scaler_details or {}},
    }


def write_deployment(
    path: Path,
    *,
    name: str,
    task_queue: str,
    groups: dict[str, dict[str, Any]],
    deployment: dict[str, str] | None = None,
) -> Path:
    """Write a deployment spec (YAML) with the given scaling groups; returns ``path``."""
    spec: dict[str, Any] = {
        "name": name,
        "task_queue": task_queue,
        "compute": {"scaling_groups": groups},
    }
    if deployment:
        spec["deployment"] = deployment
    path.write_text(yaml.safe_dump(spec))
    return path
