"""``motcua db revision``: the next revision is numbered after the last and written from what the models
add, and upgrading to it leaves nothing between the models and the database."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.intake.migrations import history as intake_history
from shared.migrations import MigrationHistory, new_revision


def test_a_new_revision_follows_the_last_and_brings_the_database_to_the_models(tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(intake_history.location, location, ignore=shutil.ignore_patterns("__pycache__"))
    metadata = sa.MetaData()
    for table in intake_history.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["dossier"].append_column(sa.Column("payment_reference", sa.String(64), nullable=True))
    history = MigrationHistory(service="intake", location=location, metadata=metadata)

    last = intake_history.head
    following = f"{int(last) + 1:04d}"
    path = new_revision(history, message="payment reference")

    assert path.name == f"{following}_payment_reference.py"
    source = path.read_text()
    assert f"down_revision = '{last}'" in source and "add_column" in source and "payment_reference" in source
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        command.upgrade(history.config(connection), "head")
        context = MigrationContext.configure(connection, opts={"version_table": history.version_table})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == following
    engine.dispose()
