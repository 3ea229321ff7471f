"""Alembic: one head, hex revision IDs, upgrade from empty and downgrade back (SQLite and
PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from workerplane.store.db import Database, alembic_config, downgrade, migration_heads

TABLES = {"api_tokens", "worker_deployments", "deployment_versions", "endpoints",
          "group_statuses", "leases"}  # fmt: skip


def test_exactly_one_head_and_hex_revision_ids() -> None:
    assert len(migration_heads()) == 1
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert re.fullmatch(r"[0-9a-f]{12}", revision.revision), revision.revision


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    value: str = request.getfixturevalue("pg_url")
    return value


def test_upgrade_from_empty_and_downgrade_back(url: str) -> None:
    db = Database(url)
    assert set(sa.inspect(db.engine).get_table_names()) == set()
    db.migrate()
    assert set(sa.inspect(db.engine).get_table_names()) >= TABLES
    db.migrate()  # idempotent on every start
    downgrade(db.engine, "base")
    assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.migrate()
    assert set(sa.inspect(db.engine).get_table_names()) >= TABLES
    db.dispose()
