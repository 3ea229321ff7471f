"""Workers push their schedule-to-start sketch to the API (providers whose workers the
controller cannot read directly); one row per reporting worker, plus one per group for the
workers that stopped reporting.

Revision ID: a1c3e5f7b9d0
Revises: e5a7c9b1d3f4
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f7b9d0"
down_revision: str | None = "e5a7c9b1d3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_reports",
        sa.Column("version_key", sa.String(length=512), primary_key=True),
        sa.Column("group_id", sa.String(length=255), primary_key=True),
        sa.Column("worker", sa.String(length=128), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("sketch_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_worker_reports_updated_at", "worker_reports", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_reports_updated_at", table_name="worker_reports")
    op.drop_table("worker_reports")
