"""``dossier.sla_slots``: the SLA timer slots a dossier's last arm used, so that the next arm purges
only the ones its new plan drops.

Existing dossiers get NULL, "not known": their next arm purges all of their timers once, as every arm
did before.

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
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_slots", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_column("sla_slots")
