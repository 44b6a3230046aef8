"""Notify's copies are order-independent: alerts carry the dossier revision they were raised at,
the ends of steps and dossiers are kept (``dossier_closure``), and a person's row remembers the
event that last changed it, to break ties between changes of one moment.

Alerts stored before start at revision 0, so the next end of their step or dossier resolves them, as
it did before; people start with no event, so the next change of them wins.

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
    op.create_table(
        "dossier_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dossier_closure", schema=None) as batch_op:
        batch_op.create_index("ix_dossier_closure_dossier_code", ["dossier_code"], unique=False)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("changed_by_event", sa.String(length=36), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("changed_by_event")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("dossier_closure", schema=None) as batch_op:
        batch_op.drop_index("ix_dossier_closure_dossier_code")
    op.drop_table("dossier_closure")
