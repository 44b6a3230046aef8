"""Revision 0006 of processing (staff credentials and sessions, ``dossier.electronic_result``) runs
on a database at 0005 that holds dossiers and people, keeps them, and reads back through the models.
Service tier: a real database, no bus."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from services.processing.migrations import history
from shared.migrations import current_revision, upgrade
from tests.conftest import DatabaseSettingsFactory
from tests.service.test_migrations import insert_rows, opened, reflected, sample_rows


async def test_revision_0006_adds_sign_in_tables_and_marks_existing_results_as_not_electronic(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    async with opened(database_settings("processing"), tmp_path) as db:
        await upgrade(db, history, revision="0005")
        at_0005 = await reflected(db)
        assert "staff_credential" not in at_0005.tables
        rows = sample_rows(at_0005, history)
        await insert_rows(db, at_0005, rows)

        await upgrade(db, history, revision="0006")

        assert await current_revision(db, history) == "0006"
        after = await reflected(db)
        assert {"staff_credential", "staff_session"} <= set(after.tables)
        async with db.engine.connect() as connection:
            dossier = after.tables["dossier"]
            values = (await connection.execute(sa.select(dossier.c.code, dossier.c.electronic_result))).all()
            people = (await connection.execute(sa.select(after.tables["person"].c.username))).all()
        assert values == [(rows["dossier"]["code"], False)]
        assert [row.username for row in people] == [rows["person"]["username"]]
