"""Leases carry a fencing token: it grows each time the lease changes hands, and every write of
the controller checks it, so a stale leader's writes are refused.

Revision ID: b7d3e9a1c5f2
Revises: 8e4b2d6f1a3c
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d3e9a1c5f2"
down_revision: str | None = "8e4b2d6f1a3c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(
            sa.Column("fencing_token", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("fencing_token")
