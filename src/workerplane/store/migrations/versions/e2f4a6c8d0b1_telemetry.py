"""Telemetry: chart samples and events of the scaling groups (bounded tables).

Revision ID: e2f4a6c8d0b1
Revises: d9e1f3a5b7c2
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2f4a6c8d0b1"
down_revision: str | None = "d9e1f3a5b7c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (64-bit anyway).
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telemetry_samples",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("version_key", sa.String(length=512), nullable=False),
        sa.Column("group_id", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("backlog", sa.Integer(), nullable=True),
        sa.Column("backlog_age_s", sa.Float(), nullable=True),
        sa.Column("in_flight", sa.Integer(), nullable=True),
        sa.Column("workers_running", sa.Integer(), nullable=False),
        sa.Column("workers_ready", sa.Integer(), nullable=True),
        sa.Column("desired", sa.Integer(), nullable=True),
        sa.Column("pollers", sa.Integer(), nullable=True),
        sa.Column("add_rate", sa.Float(), nullable=True),
        sa.Column("dispatch_rate", sa.Float(), nullable=True),
        sa.Column("action_kind", sa.String(length=16), nullable=True),
        sa.Column("action_size", sa.Integer(), nullable=True),
        sa.Column("action_reason", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_telemetry_samples_group_at", "telemetry_samples", ["version_key", "group_id", "at"]
    )
    op.create_index("ix_telemetry_samples_at", "telemetry_samples", ["at"])
    op.create_table(
        "telemetry_events",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("version_key", sa.String(length=512), nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("build_id", sa.String(length=255), nullable=False),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_telemetry_events_group_at", "telemetry_events", ["version_key", "group_id", "at"]
    )
    op.create_index("ix_telemetry_events_deployment_at", "telemetry_events", ["deployment", "at"])
    op.create_index("ix_telemetry_events_at", "telemetry_events", ["at"])


def downgrade() -> None:
    op.drop_table("telemetry_events")
    op.drop_table("telemetry_samples")
