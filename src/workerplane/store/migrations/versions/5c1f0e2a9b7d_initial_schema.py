"""Initial schema: tokens, deployments, versions, endpoints, group statuses, leases.

Revision ID: 5c1f0e2a9b7d
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1f0e2a9b7d"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "worker_deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("namespace", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("conflict_token", sa.String(64), nullable=False),
        sa.Column("current_build_id", sa.String(255), nullable=True),
        sa.Column("ramping_build_id", sa.String(255), nullable=True),
        sa.Column("ramp_percentage", sa.Float(), nullable=True),
        sa.Column("owner", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "deployment_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id",
            sa.Integer(),
            sa.ForeignKey("worker_deployments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("build_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(512), nullable=False, unique=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("picked_generation", sa.Integer(), nullable=False),
        sa.Column("picked_at", sa.Float(), nullable=True),
        sa.Column("conflict_token", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("last_update_request_id", sa.String(128), nullable=True),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.Column("deleting", sa.Boolean(), nullable=False),
        sa.Column("delete_seen_at", sa.Float(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("last_validation_at", sa.Float(), nullable=True),
        sa.Column("last_validation_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("deployment_id", "build_id", name="uq_version_build"),
    )
    op.create_index(
        "ix_deployment_versions_deployment_id", "deployment_versions", ["deployment_id"]
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("endpoint_type", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("last_update_request_id", sa.String(128), nullable=True),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("deployment_versions.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.Column("conflict_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "group_statuses",
        sa.Column("version_key", sa.String(512), primary_key=True),
        sa.Column("group_id", sa.String(255), primary_key=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("acquired_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("group_statuses")
    op.drop_table("endpoints")
    op.drop_index("ix_deployment_versions_deployment_id", table_name="deployment_versions")
    op.drop_table("deployment_versions")
    op.drop_table("worker_deployments")
    op.drop_table("api_tokens")
