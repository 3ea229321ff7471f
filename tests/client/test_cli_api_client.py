"""The CLI as a client of the API over real HTTP: tables by default, JSON with --output json,
token from WORKERPLANE_TOKEN or a config profile."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "api_test_support", Path(__file__).resolve().parents[1] / "api" / "api_support.py"
)
assert _spec is not None and _spec.loader is not None
_support = importlib.util.module_from_spec(_spec)
sys.modules["api_test_support"] = _support
_spec.loader.exec_module(_support)
ServerThread, make_store = _support.ServerThread, _support.make_store

from workerplane.api.app import ApiSettings, create_app  # noqa: E402
from workerplane.cli.api_commands import app  # noqa: E402
from workerplane.security.tokens import generate_token  # noqa: E402
from workerplane.temporal.devserver import free_port  # noqa: E402


def test_endpoints_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'cli.db'}")
    token = generate_token()
    store.add_token(token)
    port = free_port()
    runner = CliRunner()
    with ServerThread(create_app(store, ApiSettings(controller="none")), port):
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
