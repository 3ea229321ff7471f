"""``workerplane endpoints create|update`` with ``versioning``: ``--versioning auto|BUILD_ID``,
``--rollout`` with ``--rollout-step``, or ``--rollout-file``, against a served API. What the options
get wrong exits 2 naming the option and the field; what the API refuses is its 400 naming the
field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, ServerThread, make_api
from typer.testing import CliRunner, Result

from workerplane.cli.main import app
from workerplane.temporal.devserver import free_port

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    port = free_port()
    monkeypatch.setenv("WORKERPLANE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WORKERPLANE_TOKEN", api.token)
    monkeypatch.setenv("WORKERPLANE_CONFIG", str(tmp_path / "none.toml"))
    with ServerThread(api.app, port):
        yield api
    api.store.db.dispose()


def _create(name: str, *options: str) -> Result:
    return runner.invoke(
        app,
        ["endpoints", "create", name, "--task-queue", f"{name}-q", "--command", "python -m w",
         "-o", "json", *options],
    )  # fmt: skip


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _refused(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_create_with_auto_build_and_progressive_steps(served: Api) -> None:
    created = _json(_create(
        "orders", "--versioning", "auto", "--rollout", "progressive",
        "--rollout-step", "10:60s", "--rollout-step", "50:5m",
    ))  # fmt: skip
    assert created["versioning"]["build_id"] == "auto"
    assert created["build_id"].startswith("auto-")
    rollout = created["versioning"]["rollout"]
    assert rollout["strategy"] == "progressive"
    assert [(s["ramp_percentage"], s["pause"]) for s in rollout["steps"]] == [(10, 60), (50, 300)]
    assert created["rollout"]["target_version"] == created["build_id"]
    # Steps alone mean a progressive rollout.
    steps_only = _json(_create("billing", "--versioning", "b1", "--rollout-step", "25"))
    assert steps_only["build_id"] == "b1"
    assert steps_only["versioning"]["rollout"]["strategy"] == "progressive"


def test_create_from_a_rollout_file(served: Api, tmp_path: Path) -> None:
    spec = tmp_path / "rollout.yaml"
    spec.write_text("strategy: manual\ngate: {workflow_type: SmokeTest, timeout: 2m}\n")
    created = _json(_create("orders", "--versioning", "v1", "--rollout-file", str(spec)))
    assert created["versioning"]["rollout"]["strategy"] == "manual"
    assert created["versioning"]["rollout"]["gate"]["workflow_type"] == "SmokeTest"


def test_option_errors_name_the_option_and_the_field(served: Api, tmp_path: Path) -> None:
    line = _refused(_create("orders", "--rollout", "manual"), 2)
    assert "versioning.rollout" in line and "--versioning auto" in line
    line = _refused(_create("orders", "--versioning", "auto", "--rollout", "slow"), 2)
    assert "--rollout (versioning.rollout.strategy) must be one of" in line and "'slow'" in line
    line = _refused(_create("orders", "--versioning", "auto", "--rollout-step", "ten:1m"), 2)
    assert "--rollout-step (versioning.rollout.steps.0) must be RAMP:PAUSE" in line
    listed = tmp_path / "list.yaml"
    listed.write_text("- strategy: manual\n")
    line = _refused(_create("orders", "--versioning", "auto", "--rollout-file", str(listed)), 2)
    assert "must hold the versioning.rollout section" in line and "list" in line
    missing = tmp_path / "missing.yaml"
    line = _refused(_create("orders", "--versioning", "auto", "--rollout-file", str(missing)), 2)
    assert f"--rollout-file {missing}" in line
    both = ("--versioning", "auto", "--rollout-file", str(listed), "--rollout", "manual")
    line = _refused(_create("orders", *both), 2)
    assert "not both" in line
    assert _json(runner.invoke(app, ["endpoints", "list", "-o", "json"]))["items"] == []


def test_the_api_refusals_name_the_field(served: Api) -> None:
    stderr = _refused(_create("orders", "--versioning", "auto", "--rollout", "progressive"), 1)
    assert "error (400" in stderr
    assert "versioning.rollout" in stderr and "at least one step" in stderr
    stderr = _refused(_create("orders", "--versioning", "Bad Build!"), 1)
    assert "versioning.build_id" in stderr
    _json(_create("plain"))
    stderr = _refused(
        runner.invoke(app, ["endpoints", "update", "plain", "--versioning", "auto"]), 1
    )
    assert "versioning: versioning is set when an endpoint is created" in stderr


def test_update_sets_one_part_and_keeps_the_other(served: Api) -> None:
    _json(_create("orders", "--versioning", "v1", "--rollout", "manual"))
    # A new explicit build: a new version, rolled out under the rollout it had.
    updated = _json(
        runner.invoke(app, ["endpoints", "update", "orders", "--versioning", "v2", "-o", "json"])
    )
    assert updated["build_id"] == "v2"
    assert updated["versioning"]["rollout"]["strategy"] == "manual"
    assert updated["rollout"]["target_version"] == "v2"
    # A new rollout only: the build stays.
    updated = _json(runner.invoke(
        app, ["endpoints", "update", "orders", "--rollout-step", "20:1m", "-o", "json"]
    ))  # fmt: skip
    assert updated["versioning"]["build_id"] == "v2"
    assert updated["versioning"]["rollout"]["strategy"] == "progressive"
