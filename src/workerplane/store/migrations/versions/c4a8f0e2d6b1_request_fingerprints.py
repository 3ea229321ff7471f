"""Creates and updates remember a fingerprint of their body beside their ``request_id``, so a
reused ``request_id`` with a different body is refused (409) instead of answered with the old
object.

Revision ID: c4a8f0e2d6b1
Revises: b7d3e9a1c5f2
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a8f0e2d6b1"
down_revision: str | None = "b7d3e9a1c5f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = {
    "worker_deployments": ("request_hash",),
    "deployment_versions": ("request_hash", "last_update_request_hash"),
    "endpoints": ("request_hash",),
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
