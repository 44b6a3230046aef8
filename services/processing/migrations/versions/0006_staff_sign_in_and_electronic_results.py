"""Staff sign in with a password and a session cookie; results may be issued electronically.

- ``staff_credential``: each staff member's Argon2 password hash, whether they must choose a new
  one, and their failed sign-ins (the lockout).
- ``staff_session``: signed-in browsers, by the SHA-256 of the cookie's value.
- ``dossier.electronic_result``: the result was issued as an electronic document (indicator 4.1);
  existing dossiers get false, which is what they were.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_credential",
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["person.username"]),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "staff_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["person.username"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index(op.f("ix_staff_session_username"), "staff_session", ["username"], unique=False)
    # A plain ADD COLUMN, not a batch rebuild: SQLite's rebuild would lose the worklist's expression
    # indexes, which it cannot reflect.
    op.add_column(
        "dossier", sa.Column("electronic_result", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("dossier", "electronic_result")
    op.drop_index(op.f("ix_staff_session_username"), table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_table("staff_credential")
