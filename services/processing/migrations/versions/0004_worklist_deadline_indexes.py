"""The worklist's indexes: a unit's, and an agency's, dossiers by the deadline that matters now
(``coalesce(due_at, acceptance_due_at)``) and code, the order the worklist reads them in, so that a
page is read from the index instead of sorting every dossier of the unit.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DEADLINE: sa.ColumnElement[object] = sa.func.coalesce(sa.column("due_at"), sa.column("acceptance_due_at"))


def upgrade() -> None:
    op.create_index(
        "ix_dossier_unit_deadline", "dossier", [sa.column("current_unit_code"), DEADLINE, sa.column("code")]
    )
    op.create_index(
        "ix_dossier_agency_deadline",
        "dossier",
        [sa.column("current_agency_code"), DEADLINE, sa.column("code")],
    )


def downgrade() -> None:
    op.drop_index("ix_dossier_agency_deadline", table_name="dossier")
    op.drop_index("ix_dossier_unit_deadline", table_name="dossier")
