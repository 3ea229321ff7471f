"""``deployment.build_id: auto``: the hash of what defines the workers, not of scaling knobs."""

from __future__ import annotations

import copy
from typing import Any

from workerplane.config.build_id import worker_build_id
from workerplane.config.model import DeploymentSpec

SPEC: dict[str, Any] = {
    "name": "orders",
    "task_queues": ["orders"],
    "deployment": {"name": "orders", "build_id": "auto"},
    "compute": {
        "scaling_groups": {
            "g": {
                "provider": {"type": "subprocess", "details": {"command": ["worker"]}},
                "scaler": {"type": "backlog", "details": {"min_count": 1}},
            }
        }
    },
}


def _build_id(change: Any = None) -> str:
    data = copy.deepcopy(SPEC)
    if change is not None:
        change(data["compute"]["scaling_groups"]["g"])
    deployment = DeploymentSpec.model_validate(data).deployment
    assert deployment is not None
    return deployment.build_id


def test_scaling_knobs_keep_the_build_id() -> None:
    assert _build_id() == _build_id(lambda g: g["scaler"]["details"].update(min_count=5))
    assert _build_id().startswith("auto-")


def test_a_new_command_or_env_is_a_new_build() -> None:
    base = _build_id()
    assert _build_id(lambda g: g["provider"]["details"].update(command=["worker", "-v"])) != base
    assert _build_id(lambda g: g["provider"]["details"].update(env={"A": "1"})) != base


def test_an_explicit_build_id_is_kept() -> None:
    data = copy.deepcopy(SPEC)
    data["deployment"]["build_id"] = "v7"
    deployment = DeploymentSpec.model_validate(data).deployment
    assert deployment is not None and deployment.build_id == "v7"


def test_key_order_does_not_matter() -> None:
    assert worker_build_id({"a": 1, "b": [1, 2]}) == worker_build_id({"b": [1, 2], "a": 1})
