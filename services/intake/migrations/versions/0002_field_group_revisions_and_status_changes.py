"""Intake's dossier copy keeps a revision per group of fields, and the status of each revision.

Existing dossiers start with every group at the copy's revision (what the copy showed was written by
events up to it) and one status change at that revision with the status they show, so that later
events are measured against what is already there. Timeline rows written before keep their own
status (their ``revision`` stays NULL).

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

GROUPS = ("status_revision", "due_revision", "step_revision", "note_revision", "supplement_revision")


def upgrade() -> None:
    op.create_table(
        "dossier_status_change",
        sa.Column("dossier_code", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dossier_code"], ["dossier.code"]),
        sa.PrimaryKeyConstraint("dossier_code", "revision"),
    )
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        for name in GROUPS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("supplement_provided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("supplement_provided_for", sa.Integer(), nullable=True))
    with op.batch_alter_table("dossier_timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=True))

    op.execute(sa.text(f"UPDATE dossier SET {', '.join(f'{name} = revision' for name in GROUPS)}"))
    op.execute(
        sa.text(
            "INSERT INTO dossier_status_change (dossier_code, revision, status) "
            "SELECT code, revision, status FROM dossier"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("dossier_timeline", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_column("supplement_provided_for")
        batch_op.drop_column("supplement_provided_at")
        for name in reversed(GROUPS):
            batch_op.drop_column(name)
    op.drop_table("dossier_status_change")
