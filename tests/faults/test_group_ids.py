"""Fault: scaling-group IDs that cannot name a file (``..``, 300 characters) are refused up front,
by ``workerplane validate``, by ``workerplane run`` (before it writes anything) and by the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import make_api

LONG_ID = "g" * 300
GROUP = {
    "provider": {"type": "subprocess", "details": {"command": "python"}},
    "scaler": {"type": "backlog", "details": {"max_count": 2}},
}


def _spec_with_group(path: Path, group_id: str) -> Path:
    spec = {
        "name": "ids",
        "task_queues": ["ids"],
        "compute": {"scaling_groups": {group_id: GROUP}},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workerplane.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("group_id", "rule"),
    [
        ("..", "must contain only letters, digits"),
        ("a/b", "must contain only letters, digits"),
        (LONG_ID, "at most 63 characters"),
    ],
)
def test_validate_and_run_refuse_unsafe_group_ids(tmp_path: Path, group_id: str, rule: str) -> None:
    spec = _spec_with_group(tmp_path / "deploy.yaml", group_id)
    checked = _cli("validate", "-f", str(spec))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "compute.scaling_groups" in checked.stderr and rule in checked.stderr
    state = tmp_path / "state"
    started = _cli("run", "-f", str(spec), "--address", "127.0.0.1:1", "--state-dir", str(state))
    assert started.returncode == 1, started.stdout + started.stderr
    assert rule in started.stderr
    assert not state.exists() or not any(state.rglob("*.lease"))


def test_a_63_character_id_is_fine(tmp_path: Path) -> None:
    spec = _spec_with_group(tmp_path / "deploy.yaml", "a" * 62 + "1")
    checked = _cli("validate", "-f", str(spec))
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("group_id", ["..", LONG_ID])
async def test_api_refuses_unsafe_group_ids(tmp_path: Path, group_id: str) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    version: dict[str, Any] = {
        "build_id": "v1",
        "task_queues": ["ids"],
        "compute_config": {"scaling_groups": {group_id: GROUP}},
    }
    async with api.client() as c:
        assert (await c.post("/v1/worker-deployments", json={"name": "ids"})).status_code == 201
        r = await c.post("/v1/worker-deployments/ids/versions", json=version)
        assert r.status_code in (400, 422), r.text
        assert "scaling group ID must" in r.text
        assert (await c.get("/v1/worker-deployments/ids/versions/v1")).status_code == 404
    api.store.db.dispose()
