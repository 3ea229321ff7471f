"""Issue 12, item 12: the SQLite files are private (0600), and the PostgreSQL URL can come from
``WORKERPLANE_DATABASE_URL`` or a file, so its password shows neither in ``ps`` nor in logs."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import psycopg
import pytest
from faults_support import start_serve

from workerplane.security.tokens import generate_token
from workerplane.store.localpg import LocalPostgres

PASSWORD = "pw-" + generate_token()[-20:]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_sqlite_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    serve = start_serve(tmp_path, "sqlite", token=generate_token(), state_dir=state)
    try:
        serve.wait_for("/healthz", lambda r: r.status_code == 200)
        created = serve.request("POST", "/v1/worker-deployments", json={"name": "d1"})
        assert created is not None and created.status_code == 201, created
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.glob("workerplane.db*")}
        assert set(files) >= {"workerplane.db", "workerplane.db-wal", "workerplane.db-shm"}
        assert files == dict.fromkeys(files, 0o600), {k: oct(v) for k, v in files.items()}
    finally:
        serve.stop()


def _url_with_password(server: LocalPostgres) -> str:
    """A fresh database owned by a role with a password, and its URL (plain ``postgresql://``
    as an operator writes it)."""
    name = "wp_" + generate_token()[-10:].lower().replace("-", "_").replace("_", "x")
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user=server.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {name}')
    return f"postgresql://{name}:{PASSWORD}@127.0.0.1:{server.port}/{name}"


@pytest.mark.integration
@pytest.mark.timeout(300)
@pytest.mark.parametrize("given_by", ["env", "file"])
def test_database_url_from_env_or_file_keeps_the_password_hidden(
    own_postgres: LocalPostgres, tmp_path: Path, given_by: str
) -> None:
    url = _url_with_password(own_postgres)
    if given_by == "env":
        args: list[str] = []
        env = {"WORKERPLANE_DATABASE_URL": url}
    else:
        url_file = tmp_path / "database-url"
        url_file.write_text(url + "\n")
        args, env = ["--database-url-file", str(url_file)], {}
    serve = start_serve(
        tmp_path, given_by, token=generate_token(), state_dir=tmp_path / "state", args=args,
        env=env,
    )  # fmt: skip
    try:
        health = serve.wait_for("/healthz", lambda r: r.status_code == 200).json()
        assert health["database"] == "postgresql"  # the URL was read, not SQLite by default
        created = serve.request("POST", "/v1/worker-deployments", json={"name": "d1"})
        assert created is not None and created.status_code == 201, created
        processes = subprocess.run(
            ["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True
        ).stdout
        assert "workerplane.cli.main serve" in processes
        assert PASSWORD not in processes
        own_postgres.halt()  # errors get logged now: none may show the password
        down = serve.get("/v1/worker-deployments")
        assert down is not None and down.status_code == 503
        assert PASSWORD not in down.text
        own_postgres.resume()
        serve.wait_for("/v1/worker-deployments", lambda r: r.status_code == 200)
    finally:
        serve.stop()
    assert PASSWORD not in serve.log()
