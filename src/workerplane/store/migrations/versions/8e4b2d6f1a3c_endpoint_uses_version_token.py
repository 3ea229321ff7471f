"""Endpoints use their version's conflict token and request ID: drop their own copies.

Revision ID: 8e4b2d6f1a3c
Revises: 5c1f0e2a9b7d
Create Date: 2026-11-20
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e4b2d6f1a3c"
down_revision: str | None = "5c1f0e2a9b7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("conflict_token")
        batch.drop_column("last_update_request_id")


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("last_update_request_id", sa.String(128), nullable=True))
        batch.add_column(
            sa.Column("conflict_token", sa.String(64), nullable=False, server_default="")
        )
    endpoints = sa.table("endpoints", sa.column("id", sa.String), sa.column("conflict_token"))
    connection = op.get_bind()
    for (endpoint_id,) in connection.execute(sa.select(endpoints.c.id)).all():
        connection.execute(
            endpoints.update()
            .where(endpoints.c.id == endpoint_id)
            .values(conflict_token=uuid.uuid4().hex)
        )
