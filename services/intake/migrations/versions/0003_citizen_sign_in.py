"""Citizen sign-in: one-time code challenges, and the hits counted by rate limits.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_challenge",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_tries", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dossier_code"], ["dossier.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_citizen_challenge_dossier_code", "citizen_challenge", ["dossier_code"])
    op.create_index("ix_citizen_challenge_expires_at", "citizen_challenge", ["expires_at"])
    op.create_table(
        "rate_limit_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rate_limit_hit_bucket", "rate_limit_hit", ["bucket"])
    op.create_index("ix_rate_limit_hit_at", "rate_limit_hit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hit_at", table_name="rate_limit_hit")
    op.drop_index("ix_rate_limit_hit_bucket", table_name="rate_limit_hit")
    op.drop_table("rate_limit_hit")
    op.drop_index("ix_citizen_challenge_expires_at", table_name="citizen_challenge")
    op.drop_index("ix_citizen_challenge_dossier_code", table_name="citizen_challenge")
    op.drop_table("citizen_challenge")
