"""API failures in the CLI: one line on stderr, a hint where the URL or the token comes from,
a non-zero exit, and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from api_support import ServerThread, make_api
from typer.testing import CliRunner, Result

from workerplane.cli.main import app
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("WORKERPLANE_URL", "WORKERPLANE_TOKEN", "WORKERPLANE_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("WORKERPLANE_CONFIG", str(tmp_path / "none.toml"))


def one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_closed_port_names_the_url_and_where_it_came_from() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    line = one_line(runner.invoke(app, ["endpoints", "list", "--url", url]), 2)
    assert line.startswith(f"error: cannot reach the workerplane API at {url}")
    assert "--url" in line and "WORKERPLANE_URL" in line
    line = one_line(runner.invoke(app, ["status", "--api", url]), 2)
    assert url in line


def test_the_default_url_with_nothing_there_is_one_line_from_the_real_command() -> None:
    """The issue's case: `workerplane endpoints list` with no URL set, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "workerplane.cli.main", "endpoints", "list",
         "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_refusals_say_where_the_token_and_url_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'api.db'}")
    reader = generate_token()
    api.store.tokens.add(reader, "reader", scope="read")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ServerThread(api.app, port):
        line = one_line(runner.invoke(app, ["endpoints", "list", "--url", url]), 1)
        assert line.startswith("error (401")
        assert "no token is set" in line and "WORKERPLANE_TOKEN" in line
        line = one_line(
            runner.invoke(app, ["endpoints", "list", "--url", url, "--token", "wpt_wrongwrong"]), 1
        )
        assert "401" in line and "the token comes from --token" in line
        assert "wpt_wrongwrong" not in line
        monkeypatch.setenv("WORKERPLANE_TOKEN", reader)
        line = one_line(runner.invoke(app, ["tokens", "list", "--url", url]), 1)
        assert "403" in line and "WORKERPLANE_TOKEN" in line and "admin" in line
        monkeypatch.setenv("WORKERPLANE_URL", url)
        line = one_line(runner.invoke(app, ["endpoints", "get", "nope"]), 1)
        assert "404" in line and "nope" in line and f"at {url}, from WORKERPLANE_URL" in line
