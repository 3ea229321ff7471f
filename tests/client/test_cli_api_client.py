"""The CLI as a client of the API over real HTTP: tables by default, JSON with --output json,
token from WORKERPLANE_TOKEN or a config profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import ServerThread, make_api
from typer.testing import CliRunner

from workerplane.cli.api_commands import app
from workerplane.temporal.devserver import free_port


def test_endpoints_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'cli.db'}")
    token = api.token
    port = free_port()
    runner = CliRunner()
    with ServerThread(api.app, port):
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("WORKERPLANE_URL", url)
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.delenv("WORKERPLANE_TOKEN", raising=False)
        monkeypatch.setenv("WORKERPLANE_CONFIG", str(tmp_path / "none.toml"))
        denied = runner.invoke(app, ["endpoints", "list"])
        assert denied.exit_code == 1 and "401" in denied.output
        monkeypatch.setenv("WORKERPLANE_TOKEN", token)
        made = runner.invoke(app, ["endpoints", "create", "cli-ep", "--task-queue", "q1",
                                   "--command", "python -m examples.worker", "--min-workers", "1",
                                   "--max-workers", "2", "--secret-env", "API_TOKEN=zzz-secret",
                                   "-o", "json"])  # fmt: skip
        assert made.exit_code == 0, made.output
        data = json.loads(made.stdout)
        assert data["status"] == "UPDATE_PENDING" and "zzz-secret" not in made.stdout
        table = runner.invoke(app, ["endpoints", "list"])
        assert (
            table.exit_code == 0 and "cli-ep" in table.output and "UPDATE_PENDING" in table.output
        )
        bad = runner.invoke(app, ["endpoints", "update", "cli-ep", "--task-queue", ""])
        assert bad.exit_code == 1 and "temporal_task_queue" in bad.output
        # A profile works instead of the environment variable.
        monkeypatch.delenv("WORKERPLANE_TOKEN")
        monkeypatch.delenv("WORKERPLANE_URL")
        profile = tmp_path / "config.toml"
        profile.write_text(f'[profiles.ops]\nurl = "{url}"\ntoken = "{token}"\n')
        monkeypatch.setenv("WORKERPLANE_CONFIG", str(profile))
        got = runner.invoke(app, ["endpoints", "get", "cli-ep", "--profile", "ops", "-o", "json"])
        assert got.exit_code == 0 and json.loads(got.stdout)["max_workers"] == 2
        gone = runner.invoke(app, ["endpoints", "delete", "cli-ep", "--profile", "ops"])
        assert gone.exit_code == 0
