"""Upgrades keep the data: each service's Alembic history against a real SQLite file and PostgreSQL.
Service tier: the databases and the command line, no bus.

The rows-survive test writes a row into every table of revision 0001, through the tables as they
stand at 0001, and compares every one of those columns after the upgrade to head: it keeps its
meaning as later revisions are added.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.intake.app import create_app as create_intake
from services.intake.migrations import history as intake_history
from services.notify.migrations import history as notify_history
from services.processing.migrations import history as processing_history
from shared.bus.in_process import InProcessBus
from shared.db import Database
from shared.migrations import (
    FIRST_REVISION,
    MigrationError,
    MigrationHistory,
    current_revision,
    prepare_database,
    upgrade,
)
from shared.runtime import ServiceRuntime
from shared.settings import CommonSettings, DatabaseSettings, MigrationSettings, ServiceName
from tests.conftest import POSTGRES_URL_VARIABLE, DatabaseSettingsFactory, RuntimeSettingsFactory
from tests.system import motcua

HISTORIES: dict[ServiceName, MigrationHistory] = {
    "intake": intake_history,
    "processing": processing_history,
    "notify": notify_history,
}
SERVICES = list(HISTORIES)

# Values that look like the real thing where it helps to read a failure; every other column gets a
# value made from its type and name.
REAL_VALUES: dict[str, dict[str, Any]] = {
    "dossier": {"code": "000.00.06.H56-231027-0361", "procedure_code": "1.001193", "status": 4},
    "dossier_step": {"step_index": 1, "dossier_code": "000.00.06.H56-231027-0361"},
    "dossier_history": {"action": "forward", "dossier_code": "000.00.06.H56-231027-0361"},
    "notification": {"event_type": "dossier.accepted", "channel": "email", "recipient": "049090001234"},
    "outbox": {"subject": "dossier.accepted", "payload": '{"type": "dossier.accepted"}'},
}


def _without_a_bus(runtime: ServiceRuntime) -> ServiceRuntime:
    """The runtime on an in-process bus: starting it is about its database only."""
    InProcessBus().attach(runtime)
    return runtime


def open_database(settings: DatabaseSettings, tmp_path: Path) -> Database:
    return Database(settings.url(CommonSettings(data_dir=tmp_path)), schema=settings.database_schema)


@asynccontextmanager
async def opened(settings: DatabaseSettings, tmp_path: Path) -> AsyncIterator[Database]:
    db = open_database(settings, tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


async def reflected(db: Database) -> sa.MetaData:
    metadata = sa.MetaData()
    async with db.engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
    return metadata


def value_for(column: sa.Column[Any], number: int) -> Any:
    """A value no default would give, so that a column emptied or reset by a migration shows."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 700 + number
    if isinstance(kind, sa.Float):
        return 12.5 + number
    if isinstance(kind, sa.DateTime):
        return datetime(2023, 10, 27, 2, 32, number % 60, 123000, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return date(2023, 10, 27)
    if isinstance(kind, sa.JSON):
        return {"kept": [number, "Tờ khai đăng ký khai sinh"]}
    if isinstance(kind, sa.String):
        text = f"{column.name}-{number}-hồ sơ"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no sample value for {column.table.name}.{column.name} ({kind!r})")


def comparable(value: Any) -> Any:
    # SQLite gives datetimes back without their offset; they were stored as UTC.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def sample_rows(metadata: sa.MetaData, history: MigrationHistory) -> dict[str, dict[str, Any]]:
    """One row per table, parents first, every column filled (none left NULL), foreign keys pointing
    at the parents' rows."""
    rows: dict[str, dict[str, Any]] = {}
    for number, table in enumerate(metadata.sorted_tables):
        if table.name == history.version_table:
            continue
        row = {column.name: value_for(column, number) for column in table.columns}
        row.update({key: value for key, value in REAL_VALUES.get(table.name, {}).items() if key in row})
        for key in table.foreign_keys:
            row[key.parent.name] = rows[key.column.table.name][key.column.name]
        rows[table.name] = row
    return rows


async def insert_rows(db: Database, metadata: sa.MetaData, rows: dict[str, dict[str, Any]]) -> None:
    async with db.engine.begin() as connection:
        for name, row in rows.items():
            await connection.execute(metadata.tables[name].insert().values(**row))


# Columns a later revision removes on purpose, with the revision that says why. Every other column
# written at revision 0001 must come through an upgrade with its value.
DROPPED_ON_PURPOSE: dict[tuple[ServiceName, str, str], str] = {
    ("processing", "dossier", "status_before_pause"): "0002",
}


async def assert_rows_intact(db: Database, service: ServiceName, rows: dict[str, dict[str, Any]]) -> None:
    metadata = await reflected(db)
    async with db.engine.connect() as connection:
        for name, row in rows.items():
            table = metadata.tables[name]
            key = [table.c[column.name] == row[column.name] for column in table.primary_key.columns]
            found = (await connection.execute(sa.select(table).where(*key))).mappings().all()
            assert len(found) == 1, f"{name}: the row written before the upgrade is gone"
            for column, value in row.items():
                if (service, name, column) in DROPPED_ON_PURPOSE:
                    assert column not in table.c, f"{name}.{column} is listed as dropped but still there"
                    continue
                assert comparable(found[0][column]) == comparable(value), f"{name}.{column} changed"


def model_differences(connection: sa.Connection, history: MigrationHistory) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table": history.version_table}
    )
    with warnings.catch_warnings():
        # Autogenerate skips the indexes on expressions that SQLite cannot reflect, saying so;
        # ``expression_index_differences`` compares those.
        warnings.filterwarnings("ignore", message=".*expression-based index")
        differences = list(compare_metadata(context, history.metadata))
    return differences + expression_index_differences(connection, history)


def expression_index_differences(connection: sa.Connection, history: MigrationHistory) -> list[Any]:
    """On SQLite, each index on an expression the models declare, as SQLite keeps its definition,
    against the definition the models would create. PostgreSQL's are compared by autogenerate."""
    if connection.dialect.name != "sqlite":
        return []
    differences: list[Any] = []
    for table in history.metadata.sorted_tables:
        for index in table.indexes:
            if all(isinstance(expression, sa.Column) for expression in index.expressions):
                continue
            expected = str(sa.schema.CreateIndex(index).compile(dialect=connection.dialect))
            found = connection.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
                {"name": index.name},
            ).scalar()
            if found is None or found.split() != expected.split():
                differences.append(("expression index", index.name, expected, found))
    return differences


async def made_before_migrations(db: Database, history: MigrationHistory) -> None:
    """A database as ``create_all`` made it before there were migrations: revision 0001's tables
    (which were autogenerated from those models) without a version table."""
    await upgrade(db, history, revision=FIRST_REVISION)
    async with db.engine.begin() as connection:
        await connection.execute(sa.text(f"DROP TABLE {history.version_table}"))


@pytest.mark.parametrize("service", SERVICES)
async def test_the_migrations_build_exactly_the_tables_the_models_describe(
    service: ServiceName, database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    history = HISTORIES[service]
    async with opened(database_settings(service), tmp_path) as db:
        await upgrade(db, history)
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(model_differences, history)
            tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert differences == []
    assert {"outbox", "inbox", history.version_table} <= set(tables)


@pytest.mark.parametrize("service", SERVICES)
async def test_rows_written_at_the_first_revision_are_intact_after_upgrading_to_head(
    service: ServiceName, database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    history = HISTORIES[service]
    async with opened(database_settings(service), tmp_path) as db:
        await upgrade(db, history, revision=FIRST_REVISION)
        at_first = await reflected(db)
        rows = sample_rows(at_first, history)
        assert {"outbox", "inbox"} <= rows.keys()
        await insert_rows(db, at_first, rows)

        await upgrade(db, history)

        assert await current_revision(db, history) == history.head
        await assert_rows_intact(db, service, rows)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_before_migrations_is_adopted_with_its_rows(
    service: ServiceName, database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    history = HISTORIES[service]
    async with opened(database_settings(service), tmp_path) as db:
        await made_before_migrations(db, history)
        before = await reflected(db)
        rows = sample_rows(before, history)
        await insert_rows(db, before, rows)
        assert await current_revision(db, history) is None

        await prepare_database(db, history, mode="auto")

        assert await current_revision(db, history) == history.head
        await assert_rows_intact(db, service, rows)


# A later revision as SQLite must run most changes of a table: a new copy of ``dossier``, which the
# timeline and documents point at, filled from the old one, which is then dropped.
REBUILDS_DOSSIER = """\"\"\"Widens dossier.timeliness.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dossier") as batch_op:
        batch_op.alter_column("timeliness", existing_type=sa.String(20), type_=sa.String(32))


def downgrade() -> None:
    with op.batch_alter_table("dossier") as batch_op:
        batch_op.alter_column("timeliness", existing_type=sa.String(32), type_=sa.String(20))
"""


async def test_a_revision_that_rebuilds_a_table_keeps_the_rows_pointing_at_it(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(intake_history.location, location, ignore=shutil.ignore_patterns("__pycache__"))
    later = intake_history.next_revision_id()
    source = REBUILDS_DOSSIER.replace("{revision}", later).replace("{down_revision}", intake_history.head)
    (location / "versions" / f"{later}_widen_timeliness.py").write_text(source)
    history = MigrationHistory(service="intake", location=location, metadata=intake_history.metadata)
    async with opened(database_settings("intake"), tmp_path) as db:
        await upgrade(db, history, revision=FIRST_REVISION)
        at_first = await reflected(db)
        rows = sample_rows(at_first, history)
        assert {"dossier_timeline", "dossier_document"} <= rows.keys()
        await insert_rows(db, at_first, rows)

        await upgrade(db, history)

        assert await current_revision(db, history) == later
        await assert_rows_intact(db, "intake", rows)
        async with db.engine.begin() as connection:  # foreign keys are enforced again afterwards
            with pytest.raises(sa.exc.IntegrityError):
                await connection.execute(
                    at_first.tables["dossier_timeline"]
                    .insert()
                    .values(**{**rows["dossier_timeline"], "id": 9999, "dossier_code": "no-such-dossier"})
                )


async def test_a_database_made_before_migrations_that_differs_from_0001_is_refused_and_left_alone(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    history = HISTORIES["processing"]
    async with opened(database_settings("processing"), tmp_path) as db:
        await made_before_migrations(db, history)
        async with db.engine.begin() as connection:
            await connection.execute(sa.text("DROP TABLE sla_claim"))

        with pytest.raises(MigrationError) as refused:
            await prepare_database(db, history, mode="auto")

        message = str(refused.value)
        assert "processing will not start" in message and "table sla_claim is missing" in message
        assert "\n" not in message
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert history.version_table not in tables and "sla_claim" not in tables


async def test_with_manual_migrations_a_service_behind_refuses_to_start_until_motcua_db_upgrade(
    runtime_settings: RuntimeSettingsFactory, database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    settings = runtime_settings("intake")
    settings.migrations = MigrationSettings(mode="manual")
    database = database_settings("intake")
    env = {
        "MOTCUA_DATA_DIR": str(tmp_path / "data"),
        "MOTCUA_DATABASE_MIGRATIONS": "manual",
        "MOTCUA_INTAKE_DATABASE_URL": database.database_url or "",
        "MOTCUA_INTAKE_DATABASE_SCHEMA": database.database_schema or "",
    }
    if database.database_schema is None:
        del env["MOTCUA_INTAKE_DATABASE_SCHEMA"]

    runtime = _without_a_bus(create_intake(settings).state.runtime)
    with pytest.raises(MigrationError) as refused:
        await runtime.start()
    await runtime.stop()
    message = str(refused.value)
    assert message.startswith("intake will not start")
    assert f"needs revision {intake_history.head}" in message and "no revision" in message
    assert "`motcua db upgrade intake`" in message and "\n" not in message

    serve = await asyncio.to_thread(motcua, "serve", "intake", "--port", "1", env=env)
    assert serve.returncode == 1
    assert serve.stderr.splitlines()[-1] == f"motcua: {message}"  # one paragraph
    assert "Traceback" not in serve.stderr

    upgraded = await asyncio.to_thread(motcua, "db", "upgrade", "intake", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"intake: none -> {intake_history.head}"
    current = await asyncio.to_thread(motcua, "db", "current", env=env)
    assert f"intake: {intake_history.head} (at head)" in current.stdout.splitlines()

    runtime = _without_a_bus(create_intake(settings).state.runtime)
    try:
        await runtime.start()
        assert (await runtime.readiness())["database"] == "ok"
    finally:
        await runtime.stop()


async def test_replicas_migrating_one_database_at_once_both_succeed(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> None:
    settings = database_settings("notify")
    async with opened(settings, tmp_path) as first, opened(settings, tmp_path) as second:
        await asyncio.gather(
            prepare_database(first, notify_history, mode="auto"),
            prepare_database(second, notify_history, mode="auto"),
        )
        assert await current_revision(first, notify_history) == notify_history.head


async def test_a_service_starts_on_the_database_url_operators_write(
    db_backend: str, runtime_settings: RuntimeSettingsFactory, tmp_path: Path
) -> None:
    settings = runtime_settings("intake")
    assert settings.database is not None
    if db_backend == "postgres":
        url = os.environ[POSTGRES_URL_VARIABLE].replace("postgresql+asyncpg://", "postgresql://", 1)
    else:
        url = f"sqlite:///{tmp_path}/plain.db"
    settings.database = settings.database.model_copy(update={"database_url": url})

    runtime = _without_a_bus(create_intake(settings).state.runtime)
    try:
        await runtime.start()
        assert (await runtime.readiness())["database"] == "ok"
        assert runtime.db.url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///"))
    finally:
        await runtime.stop()
