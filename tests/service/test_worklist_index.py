"""The worklist reads a page from its index, in the order it returns, instead of sorting every dossier
of the unit (or agency) on each request: asked of the database's own planner, on SQLite and
PostgreSQL, for the worklist's statement as ``queries.worklist`` sends it.

Service tier: a real temporary database migrated to head, no bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from services.processing import queries
from services.processing.migrations import history
from shared.db import Database
from shared.events import utc_now
from shared.migrations import upgrade
from shared.settings import CommonSettings
from shared.staff import Staff
from tests.conftest import DatabaseSettingsFactory

OFFICER = Staff(username="officer", role="officer", agency_code="H56", unit_code="H56.01")
LEADER = Staff(username="leader", role="leader", agency_code="H56", unit_code=None)


@pytest.fixture
async def db(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[Database]:
    settings = database_settings("processing")
    database = Database(settings.url(CommonSettings(data_dir=tmp_path)), schema=settings.database_schema)
    await upgrade(database, history)
    try:
        yield database
    finally:
        await database.dispose()


async def worklist_plan(db: Database, actor: Staff, **filters: Any) -> str:
    """How the database would run the worklist's statement for ``actor``: the statement is caught as
    ``queries.worklist`` sends it, then explained with the same parameters."""
    sent: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "FROM dossier" in statement:
            sent.append((statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", catch)
    try:
        async with db.session() as session:
            arguments = {"statuses": None, "step_name": None, "assignee": None, "due_before": None}
            await queries.worklist(session, actor=actor, limit=50, offset=100, **(arguments | filters))
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", catch)
    [(statement, parameters)] = sent
    async with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # An empty table is read faster whole and sorted: the question is whether the index can
        # give the worklist's order, so the planner is told that anything else costs more.
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await connection.exec_driver_sql("SET LOCAL enable_sort = off")
        rows = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


def read_in_index_order(plan: str, index: str) -> bool:
    sorted_afterwards = "TEMP B-TREE FOR ORDER BY" in plan or "Sort" in plan
    return index in plan and not sorted_afterwards


async def test_an_officers_worklist_is_read_in_deadline_order_from_the_units_index(db: Database) -> None:
    plan = await worklist_plan(db, OFFICER)
    assert read_in_index_order(plan, "ix_dossier_unit_deadline"), plan


async def test_a_leaders_worklist_is_read_in_deadline_order_from_the_agencys_index(db: Database) -> None:
    plan = await worklist_plan(db, LEADER)
    assert read_in_index_order(plan, "ix_dossier_agency_deadline"), plan


async def test_the_near_due_and_status_filters_read_the_same_index(db: Database) -> None:
    near_due = await worklist_plan(db, OFFICER, due_before=utc_now() + timedelta(hours=4))
    assert read_in_index_order(near_due, "ix_dossier_unit_deadline"), near_due
    by_status = await worklist_plan(db, OFFICER, statuses=[2])
    assert read_in_index_order(by_status, "ix_dossier_unit_deadline"), by_status
