"""Schema migrations: each service keeps its own Alembic history in ``services/<name>/migrations``
(``env.py``, ``script.py.mako``, ``versions/``) and its own version table, ``alembic_version_<name>``
(in the service's schema when it has one), so that no two services ever read each other's history.

Alembic's ``Config`` is built here, in code; there is no ``alembic.ini``. A service applies what is
pending when it starts (``MOTCUA_DATABASE_MIGRATIONS=auto``) or refuses to start until an operator
runs ``motcua db upgrade`` (``manual``). Upgrades take a lock, so that replicas starting together
migrate once: a PostgreSQL advisory lock held to the end of the transaction, or SQLite's single
writer (every write transaction begins ``IMMEDIATE``).

A database made before there were migrations (every table, no version table) is compared with
revision ``0001``: when it matches, it is stamped ``0001`` and upgraded from there; when it does not,
nothing is touched and the service refuses to start.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, create_engine, inspect, text
from sqlmodel.sql.sqltypes import AutoString

from shared.bus.inbox import inbox_table
from shared.bus.outbox import outbox_table
from shared.db import Database, UtcDateTime, advisory_lock_key
from shared.settings import MigrationMode, ServiceName

logger = logging.getLogger(__name__)

FIRST_REVISION = "0001"


class MigrationError(RuntimeError):
    """The database is not at the schema this version of the service needs, and will not be made so."""


@dataclass(frozen=True, eq=False)
class MigrationHistory:
    """One service's migrations: where they live, and the tables they must end up building.

    ``metadata`` is the service's models; the bus's outbox and inbox tables, which every service's
    database holds, are added to it here so that comparisons see the whole database.
    """

    service: ServiceName
    location: Path
    metadata: MetaData

    def __post_init__(self) -> None:
        outbox_table(self.metadata)
        inbox_table(self.metadata)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.location))
        # New revisions are named like ``0002_add_payment_columns.py``.
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        config.attributes["history"] = self
        config.attributes["connection"] = connection
        return config

    @cached_property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    @cached_property
    def head(self) -> str:
        head = self.script.get_current_head()
        if head is None:
            raise MigrationError(f"{self.service}: no migrations in {self.location}")
        return head

    def next_revision_id(self) -> str:
        return f"{len(list(self.script.walk_revisions())) + 1:04d}"

    @cached_property
    def first_revision_shape(self) -> dict[str, TableShape]:
        """The tables revision 0001 builds, as built in a scratch in-memory SQLite database."""
        engine = create_engine("sqlite://")
        try:
            with engine.begin() as connection:
                command.upgrade(self.config(connection), FIRST_REVISION)
                return describe_tables(connection)
        finally:
            engine.dispose()


# -- the environment every service's env.py runs ------------------------------------------------


def run_environment() -> None:
    """What each service's ``env.py`` does: run Alembic's command on the connection it was handed."""
    from alembic import context

    history: MigrationHistory = context.config.attributes["history"]
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise MigrationError("motcua's migrations run through shared.migrations, which hands a connection")
    context.configure(
        connection=connection,
        target_metadata=history.metadata,
        version_table=history.version_table,
        # SQLite alters a table by copying it: batch operations do that there and plain ALTERs elsewhere.
        render_as_batch=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Revisions spell column types in SQLAlchemy's own terms, so that they stay what they were when
    written whatever later happens to the application's types."""
    if type_ != "type":
        return False
    if isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    return False


# -- reading and applying ------------------------------------------------------------------------


def _current_revision(connection: Connection, history: MigrationHistory) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": history.version_table})
    return context.get_current_revision()


async def current_revision(db: Database, history: MigrationHistory) -> str | None:
    """The revision the database is at; ``None`` for a database without this service's history."""
    async with db.read_engine.connect() as connection:
        return await connection.run_sync(_current_revision, history)


async def upgrade(db: Database, history: MigrationHistory, *, revision: str = "head") -> None:
    """Bring the database to ``revision``, in one transaction under the migration lock.

    A database without a history but with the tables of revision 0001 is adopted first.
    """
    async with db.engine.connect() as connection:
        await connection.run_sync(_upgrade, db.schema, history, revision)


def _upgrade(connection: Connection, schema: str | None, history: MigrationHistory, revision: str) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table by building a copy and dropping the original, which with foreign keys
        # enforced would take the rows pointing at it along. Its documented way: enforcement off
        # outside the transaction, a foreign-key check before committing, enforcement on again.
        _sqlite_foreign_keys(connection, enforced=False)
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Before the schema exists: two replicas creating it at once would collide.
                key = advisory_lock_key("motcua.migrations", schema, history.service)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                if schema is not None:
                    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            tables = set(inspect(connection).get_table_names())
            if tables and history.version_table not in tables:
                _adopt_tables_made_without_history(connection, history, tables)
            _run_upgrade(connection, history, revision)
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    orphans = sorted({str(row[0]) for row in broken})
                    raise MigrationError(
                        f"{history.service}: the migration to {revision} would leave rows of "
                        f"{', '.join(orphans)} pointing at nothing; nothing was changed"
                    )
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, enforced=True)


def _sqlite_foreign_keys(connection: Connection, *, enforced: bool) -> None:
    # On the driver's connection: through SQLAlchemy the pragma would begin a transaction, inside
    # which SQLite ignores it.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    finally:
        cursor.close()


def _run_upgrade(connection: Connection, history: MigrationHistory, revision: str) -> None:
    """``alembic upgrade`` on the history's script directory, read once per process, instead of
    reading every revision file and ``env.py`` again on each start as ``command.upgrade`` would."""
    script = history.script

    def steps(current: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs(revision, current)

    with EnvironmentContext(history.config(connection), script, fn=steps, destination_rev=revision):
        run_environment()


async def prepare_database(db: Database, history: MigrationHistory, *, mode: MigrationMode) -> None:
    """Make sure the database is at the service's head revision before the service uses it.

    A database already at head costs one read of the version table. Otherwise ``auto`` upgrades it and
    ``manual`` refuses with the command that would.
    """
    current = await current_revision(db, history)
    if current == history.head:
        return
    if mode == "manual":
        raise MigrationError(pending_message(history, current))
    logger.info("%s: migrating the database from %s to %s", history.service, current or "none", history.head)
    await upgrade(db, history)
    logger.info("%s: the database is at %s", history.service, history.head)


def pending_message(history: MigrationHistory, current: str | None) -> str:
    at = f"revision {current}" if current else "no revision (empty, or made before migrations)"
    return (
        f"{history.service} will not start: its database is at {at}, and this version of motcua needs "
        f"revision {history.head}. Migrations are run by hand here (MOTCUA_DATABASE_MIGRATIONS=manual): "
        f"back up the database, run `motcua db upgrade {history.service}`, then start {history.service} "
        "again."
    )


# -- databases made before there were migrations ---------------------------------------------------


@dataclass(frozen=True)
class TableShape:
    """What adoption compares: columns and whether they take NULL, keys, indexes and unique constraints.
    Types are left out because a scratch SQLite database and PostgreSQL spell them differently."""

    columns: dict[str, bool]
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str | None, tuple[str, ...], bool]]
    unique: frozenset[tuple[str, ...]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str, ...]]]


def describe_tables(connection: Connection, names: Collection[str] | None = None) -> dict[str, TableShape]:
    """The shape of the tables called ``names`` (by default every table but a version table)."""
    inspector = inspect(connection)
    if names is None:
        names = [name for name in inspector.get_table_names() if not name.startswith("alembic_version")]
    shapes: dict[str, TableShape] = {}
    for name in names:
        shapes[name] = TableShape(
            columns={column["name"]: bool(column["nullable"]) for column in inspector.get_columns(name)},
            primary_key=tuple(inspector.get_pk_constraint(name)["constrained_columns"]),
            indexes=frozenset(
                (index["name"], tuple(str(column) for column in index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(name)
                if not index.get("duplicates_constraint")
            ),
            unique=frozenset(
                tuple(sorted(constraint["column_names"]))
                for constraint in inspector.get_unique_constraints(name)
            ),
            foreign_keys=frozenset(
                (tuple(key["constrained_columns"]), key["referred_table"], tuple(key["referred_columns"]))
                for key in inspector.get_foreign_keys(name)
            ),
        )
    return shapes


def _adopt_tables_made_without_history(
    connection: Connection, history: MigrationHistory, tables: set[str]
) -> None:
    expected = history.first_revision_shape
    if not tables & expected.keys():
        return
    # Tables not in revision 0001 are not the service's, and left out of the comparison.
    found = describe_tables(connection, tables & expected.keys())
    differences = [f"table {name} is missing" for name in sorted(expected.keys() - found.keys())]
    for name in sorted(found):
        differences.extend(_differences(name, found[name], expected[name]))
    if differences:
        raise MigrationError(
            f"{history.service} will not start: its database has tables but no migration history "
            f"({history.version_table}), and they differ from revision {FIRST_REVISION}: "
            f"{'; '.join(differences)}. Nothing was changed. Restore a backup, or make the tables "
            f"match services/{history.service}/migrations/versions/{FIRST_REVISION}_initial.py, "
            "and start again."
        )
    command.stamp(history.config(connection), FIRST_REVISION)
    logger.warning(
        "%s: adopted a database made before migrations; stamped it %s", history.service, FIRST_REVISION
    )


def _differences(name: str, found: TableShape, expected: TableShape) -> list[str]:
    differences: list[str] = []
    for column in sorted(expected.columns.keys() - found.columns.keys()):
        differences.append(f"{name}.{column} is missing")
    for column in sorted(found.columns.keys() - expected.columns.keys()):
        differences.append(f"{name}.{column} is not in revision {FIRST_REVISION}")
    for column in sorted(found.columns.keys() & expected.columns.keys()):
        if found.columns[column] != expected.columns[column]:
            nullable = "takes NULL" if found.columns[column] else "takes no NULL"
            differences.append(f"{name}.{column} {nullable}")
    for facet in ("primary_key", "indexes", "unique", "foreign_keys"):
        if getattr(found, facet) != getattr(expected, facet):
            differences.append(f"{name} has other {facet.replace('_', ' ')}")
    return differences


# -- writing a new revision ------------------------------------------------------------------------


def new_revision(history: MigrationHistory, *, message: str) -> Path:
    """Write the next revision (``0002_<message>.py``, …) from the difference between the models and a
    scratch database at the current head; read and tidy it before committing it."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            config = history.config(connection)
            if history.script.get_current_head() is not None:
                command.upgrade(config, "head")
            script = command.revision(
                config, message=message, autogenerate=True, rev_id=history.next_revision_id()
            )
    finally:
        engine.dispose()
    if script is None or isinstance(script, list):
        raise MigrationError(f"{history.service}: no single revision was written")
    return Path(script.path)


__all__ = [
    "FIRST_REVISION",
    "MigrationError",
    "MigrationHistory",
    "current_revision",
    "new_revision",
    "prepare_database",
    "run_environment",
    "upgrade",
]
