"""Start a throwaway PostgreSQL server from Debian's binaries (tests and benchmarks).

``initdb`` refuses to run as root, so when we are root every server command runs as the
``postgres`` user through ``runuser``. The data directory and the unix-socket directory live in a
fresh directory under ``/tmp`` owned by that user; the server listens on 127.0.0.1 only, on a free
port, with ``fsync=off`` (the data is disposable).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from workerplane.temporal.devserver import free_port


def find_pg_bindir() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is absent."""
    explicit = os.environ.get("WORKERPLANE_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class LocalPostgres:
    """A running server. ``url()`` gives a SQLAlchemy URL for one of its databases."""

    bindir: Path
    base: Path
    port: int
    user: str

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        name = name or f"wp_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def halt(self) -> None:
        """Stop the server but keep its data (a database outage, for fault tests)."""
        _run_as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]
        )

    def resume(self, timeout_s: float = 60.0) -> None:
        """Start a halted server again on the same port."""
        _pg_ctl_start(self, timeout_s)
        _wait_accepting(self, timeout_s)

    def stop(self) -> None:
        _run_as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
            check=False,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def _as_postgres() -> bool:
    return os.geteuid() == 0


def _run_as_owner(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    if _as_postgres():
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(
        args,
        check=check,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def start_local_postgres(timeout_s: float = 60.0) -> LocalPostgres:
    """initdb + pg_ctl start on a free loopback port.

    Raises:
        FileNotFoundError: PostgreSQL is not installed.
    """
    bindir = find_pg_bindir()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL binaries not found (install Debian's postgresql: scripts/setup.d)"
        )
    base = Path(tempfile.mkdtemp(prefix="workerplane-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    user = "postgres" if _as_postgres() else os.environ.get("USER", "postgres")
    if _as_postgres():
        shutil.chown(base, user="postgres", group="postgres")
    port = free_port()
    result = _run_as_owner(
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", user, "--auth=trust",
         "--encoding=UTF8", "--no-sync"],
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError("initdb failed: " + result.stdout.decode(errors="replace")[-2000:])
    server = LocalPostgres(bindir=bindir, base=base, port=port, user=user)
    try:
        _pg_ctl_start(server, timeout_s)
        _wait_accepting(server, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _pg_ctl_start(server: LocalPostgres, timeout_s: float) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.base} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    result = _run_as_owner(
        [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-o", options,
         "-l", str(server.base / "server.log"), "-w", "-t", str(int(timeout_s)), "start"],
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        log = (server.base / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError("pg_ctl start failed: " + log)


def _wait_accepting(server: LocalPostgres, timeout_s: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(
                host="127.0.0.1", port=server.port, user=server.user, dbname="postgres"
            ).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
