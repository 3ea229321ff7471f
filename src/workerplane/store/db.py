"""Engines, sessions and migrations for SQLite (default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: Seconds to wait for a PostgreSQL connection before the call fails (and the API answers 503).
PG_CONNECT_TIMEOUT_S = 5


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and select the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def describe_db_error(err: BaseException) -> str:
    """A database error's first line: what failed, without the SQL, its parameters or a stack
    (safe for logs and API responses)."""
    cause = getattr(err, "orig", None) or err
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def default_sqlite_url(state_dir: Path) -> str:
    state_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state_dir / 'workerplane.db'}"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine with settings that make concurrent use safe on both databases.

    SQLite: WAL journal (readers never block the writer), a busy timeout, foreign keys on, and
    ``BEGIN IMMEDIATE`` for write transactions (see :func:`write_session`) so a read-then-write
    transaction never fails with "database is locked" half-way.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            make_private(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # An unreachable server (rather than a refused connection) fails in bounded time.
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def make_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), and tighten an existing one.

    SQLite gives its ``-wal`` and ``-shm`` files the main file's mode, so they follow; the
    ones left by an earlier, looser run are tightened too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(file, 0o600)


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migration_heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


def run_migrations(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (run at every start; a no-op when up to date).

    On PostgreSQL a transaction-scoped advisory lock serialises concurrent starters, so two
    processes starting at once do not both try to create the tables.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7305550101)")
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


class Database:
    """An engine plus session factories for reads and writes."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        write_bind = self.engine.execution_options(sqlite_immediate=True)
        self._write = sessionmaker(write_bind, expire_on_commit=False)

    def migrate(self) -> None:
        run_migrations(self.engine)

    def ping(self) -> None:
        """One round trip to the database (raises the driver's error when it is down)."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
