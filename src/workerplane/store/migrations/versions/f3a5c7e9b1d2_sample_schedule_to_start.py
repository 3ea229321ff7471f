"""Telemetry samples carry the schedule-to-start the workers measured since the previous one,
so any window's achieved latency can be read back.

Revision ID: f3a5c7e9b1d2
Revises: e2f4a6c8d0b1
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3a5c7e9b1d2"
down_revision: str | None = "e2f4a6c8d0b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_samples") as batch:
        batch.add_column(sa.Column("waited_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_samples") as batch:
        batch.drop_column("waited_json")
