"""``dossier(status, code)`` instead of ``dossier(status)``: the SLA reconciliation pages through the
open dossiers in code order, and with the code in the index each page is read from it in that order
instead of sorting every dossier in the status again for each page.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dossier_status_code", "dossier", ["status", "code"])
    op.drop_index("ix_dossier_status", table_name="dossier")


def downgrade() -> None:
    op.create_index("ix_dossier_status", "dossier", ["status"])
    op.drop_index("ix_dossier_status_code", table_name="dossier")
