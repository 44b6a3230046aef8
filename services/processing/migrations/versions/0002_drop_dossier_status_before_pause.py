"""Drop ``dossier.status_before_pause``.

A received supplement now always resumes processing (status 4), as the transition table says, so the
status a dossier had before its pause is no longer kept. Dossiers waiting at the upgrade resume in
processing when their supplement arrives; no other row changes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_column("status_before_pause")


def downgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_before_pause", sa.Integer(), nullable=True))
