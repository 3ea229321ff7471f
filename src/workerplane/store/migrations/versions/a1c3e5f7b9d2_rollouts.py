"""Rollouts: one row per deployment with its ``rollout`` spec and the rollout's state.

Revision ID: a1c3e5f7b9d2
Revises: a1c3e5f7b9d0
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f7b9d2"
down_revision: str | None = "a1c3e5f7b9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id",
            sa.Integer(),
            sa.ForeignKey("worker_deployments.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_rollouts_phase", "rollouts", ["phase"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_phase", table_name="rollouts")
    op.drop_table("rollouts")
