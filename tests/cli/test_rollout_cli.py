"""``workerplane versions create`` with a rollout, then ``workerplane rollout``: the status and the
commands against a served API (no controller: the rollout waits for workers)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from api_support import ServerThread, make_api
from typer.testing import CliRunner

from workerplane.cli.main import app
from workerplane.controller.rollouts import RolloutRunner
from workerplane.store.rollout_io import StoreRolloutIO
from workerplane.temporal.devserver import free_port

runner = CliRunner()


def _spec(path: Path, build_id: str) -> Path:
    path.write_text(
        yaml.safe_dump({
            "name": "shop", "task_queues": ["q"],
            "deployment": {"name": "shop", "build_id": build_id},
            "compute": {"scaling_groups": {"g": {
                "provider": {"type": "subprocess", "details": {"command": "python"}},
                "scaler": {"type": "backlog", "details": {"min_count": 1, "max_count": 3}},
            }}},
            "rollout": {"strategy": "progressive",
                        "steps": [{"ramp_percentage": 25, "pause": "5m"}]},
        })
    )  # fmt: skip
    return path


def test_a_new_build_id_in_the_spec_starts_a_rollout_the_cli_shows_and_controls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    port = free_port()
    monkeypatch.setenv("WORKERPLANE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WORKERPLANE_TOKEN", api.token)
    monkeypatch.setenv("WORKERPLANE_CONFIG", str(tmp_path / "none.toml"))
    with ServerThread(api.app, port):
        for build in ("v1", "v2"):
            spec = _spec(tmp_path / f"{build}.yaml", build)
            created = runner.invoke(app, ["versions", "create", "-f", str(spec)])
            assert created.exit_code == 0, created.output
        shown = runner.invoke(app, ["rollout", "status", "shop"])
        assert shown.exit_code == 0, shown.output
        assert "(unversioned) -> v2" in shown.output
        assert "waiting-for-workers" in shown.output
        assert "progressive, step 0/1" in shown.output
        asyncio.run(RolloutRunner(StoreRolloutIO(api.store), None).tick())
        ticked = runner.invoke(app, ["rollout", "status", "shop"]).output
        assert "waiting for  the first status of v2's workers" in ticked
        assert "progressive rollout of v2 from unversioned workers started" in ticked
        paused = runner.invoke(app, ["rollout", "pause", "shop", "-o", "json"])
        assert json.loads(paused.output)["paused"] is True
        again = runner.invoke(app, ["rollout", "pause", "shop"])
        assert again.exit_code == 1 and "409" in again.stderr and "already paused" in again.stderr
        assert runner.invoke(app, ["rollout", "resume", "shop"]).exit_code == 0
        promoted = runner.invoke(app, ["rollout", "promote", "shop", "-o", "json"])
        assert json.loads(promoted.output)["phase"] == "promoting"
    api.store.db.dispose()
