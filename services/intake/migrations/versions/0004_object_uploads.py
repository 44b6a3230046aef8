"""Electronic results, and files that cross to processing.

- ``dossier.result_electronic``: the result is a PDF the citizen downloads from the portal
  (existing dossiers get false, which is what intake knew of them).
- Files waiting for their Object Store bucket (``shared.bus.objects``): ``object_upload``, one row
per file a transaction queued, deleted once the bucket has it.

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


def upgrade() -> None:
    op.add_column(
        "dossier", sa.Column("result_electronic", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "object_upload",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("bucket", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bucket", "name", name="uq_object_upload_bucket_name"),
    )


def downgrade() -> None:
    op.drop_table("object_upload")
    op.drop_column("dossier", "result_electronic")
