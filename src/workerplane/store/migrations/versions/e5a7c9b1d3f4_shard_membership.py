"""Sharded controllers: each ``serve --shards K`` replica heartbeats a ``controller_members`` row,
so every replica knows how many share the shards (its fair share). The shard leases themselves
are rows of ``leases`` (``shard:0000`` ...), fenced like the controller lease.

Revision ID: e5a7c9b1d3f4
Revises: f3a5c7e9b1d2
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5a7c9b1d3f4"
down_revision: str | None = "f3a5c7e9b1d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "controller_members",
        sa.Column("holder", sa.String(length=128), primary_key=True),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("controller_members")
