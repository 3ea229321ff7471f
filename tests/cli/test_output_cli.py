"""The CLI as kubectl users expect it: --version, -o table|wide|json|yaml, full-width tables when
piped, `status` from a run or serve state directory or from the API, and `status --watch`."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import yaml
from api_support import ServerThread, make_api
from typer.testing import CliRunner

from workerplane.cli import status as status_cli
from workerplane.cli.main import app
from workerplane.cli.output import OutputFormat
from workerplane.controller.local import JsonStatusSink
from workerplane.planning.status import GroupStatus
from workerplane.store.db import Database
from workerplane.store.models import GroupStatusRow
from workerplane.store.rows import status_payload
from workerplane.temporal.devserver import free_port

runner = CliRunner()
LONG_QUEUE = "a-task-queue-whose-name-is-far-longer-than-eighty-columns-" + "x" * 60


def group(group_id: str, version: str = "orders", **changes: object) -> GroupStatus:
    status = GroupStatus(
        version_key=version, group_id=group_id, provider_type="subprocess",
        scaler_type="backlog", strategy="worker-set", workers_running=3, workers_ready=2,
        in_flight=5, pollers=2, backlog=17, backlog_age_s=1.5, add_rate=4.0, dispatch_rate=3.0,
        desired=3, last_decision="set size 3", last_reason="backlog=17 -> desired 3",
        last_error=None, provider_validation_error=None, metrics_ok=True, updated_at=time.time(),
    )  # fmt: skip
    return dataclasses.replace(status, **changes)  # type: ignore[arg-type]


@pytest.fixture
def no_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("WORKERPLANE_URL", "WORKERPLANE_TOKEN", "WORKERPLANE_PROFILE", "COLUMNS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("WORKERPLANE_CONFIG", str(tmp_path / "none.toml"))


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("workerplane ") and len(result.stdout.split()) == 2


async def test_status_of_a_run_state_dir_in_every_format(tmp_path: Path) -> None:
    await JsonStatusSink(tmp_path / "status.json").publish(
        [group("wf"), group("act", last_reason="r " + LONG_QUEUE)]
    )
    as_json = json.loads(
        runner.invoke(app, ["status", "--state-dir", str(tmp_path), "-o", "json"]).stdout
    )
    as_yaml = yaml.safe_load(
        runner.invoke(app, ["status", "--state-dir", str(tmp_path), "-o", "yaml"]).stdout
    )
    assert as_json == as_yaml and {g["group_id"] for g in as_json} == {"wf", "act"}
    table = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert table.exit_code == 0 and "orders / wf" in table.stdout
    # Piped: full width, the long reason stays on one line.
    assert any(LONG_QUEUE in line for line in table.stdout.splitlines())
    wide = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "-o", "wide"])
    assert "dispatch/s" in wide.stdout and "backlog" in wide.stdout and "worker-set" in wide.stdout


def test_status_of_a_serve_state_dir(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'workerplane.db'}")
    database.migrate()
    with database.write_session() as session:
        status = group("workers", version="orders/v1")
        session.add(
            GroupStatusRow(
                version_key=status.version_key, group_id=status.group_id,
                payload_json=status_payload(status), updated_at=status.updated_at,
            )
        )  # fmt: skip
    database.dispose()
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "orders/v1 / workers" in result.stdout and "serve database" in result.stdout


def test_status_of_an_empty_dir_says_where_it_looked(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "status.json" in line and "workerplane.db" in line and "--api" in line


@pytest.mark.usefixtures("no_profile")
def test_status_and_lists_from_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ServerThread(api.app, port):
        monkeypatch.setenv("WORKERPLANE_TOKEN", api.token)
        made = runner.invoke(
            app,
            ["endpoints", "create", "ep", "--task-queue", LONG_QUEUE, "--command", "true",
             "--url", url, "-o", "json"],
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        endpoint = json.loads(made.stdout)
        [version] = api.store.versions.list(endpoint["deployment_name"])
        with api.store.db.write_session() as session:
            status = group("workers", version=version.key, provider_type="subprocess")
            session.add(
                GroupStatusRow(
                    version_key=version.key, group_id="workers",
                    payload_json=status_payload(status), updated_at=status.updated_at,
                )
            )  # fmt: skip
        shown = runner.invoke(app, ["status", "--api", url, "-o", "json"])
        assert shown.exit_code == 0, shown.output
        [row] = json.loads(shown.stdout)
        assert (row["group_id"], row["workers_running"], row["backlog"]) == ("workers", 3, 17)
        assert row["version_key"] == f"{endpoint['deployment_name']}/{endpoint['build_id']}"
        # The list commands: JSON and YAML are the same objects; wide tables are never cut.
        listed = {
            output: runner.invoke(app, ["endpoints", "list", "--url", url, "-o", output]).stdout
            for output in ("json", "yaml", "wide")
        }
        assert json.loads(listed["json"]) == yaml.safe_load(listed["yaml"])
        assert any(
            LONG_QUEUE in line and endpoint["id"] in line for line in listed["wide"].splitlines()
        )
        versions = runner.invoke(
            app, ["versions", "list", endpoint["deployment_name"], "--url", url, "-o", "yaml"]
        )
        assert yaml.safe_load(versions.stdout)["items"][0]["build_id"] == endpoint["build_id"]
        tokens = runner.invoke(app, ["tokens", "list", "--url", url, "-o", "yaml"])
        assert [t["name"] for t in yaml.safe_load(tokens.stdout)["items"]] == ["test"]


def test_watch_prints_each_change_once() -> None:
    snapshots = iter([[group("a")], [group("a")], [group("a", backlog=0)], [group("a", backlog=0)]])
    reads: list[int] = []

    def read() -> status_cli.Snapshot:
        reads.append(1)
        return status_cli.Snapshot("test", next(snapshots))

    def sleep(_: float) -> None:
        if len(reads) == 4:
            raise KeyboardInterrupt  # Ctrl-C ends the watch quietly

    with runner.isolation() as (stdout, _stderr, _output):
        status_cli.watch(read, OutputFormat.JSON, 0.0, sleep=sleep)
        printed = stdout.getvalue().decode()
    updates = [json.loads(line) for line in printed.splitlines()]
    assert [u[0]["backlog"] for u in updates] == [17, 0]
