"""Hot statements run on the database driver's own connection, inside the session's transaction.

SQLAlchemy spends most of a short statement's CPU around it rather than in it: the session and the
connection's bookkeeping, the cache key of the statement, the execution context, the result's
metadata, and the hops in and out of its greenlet. On this project's hot paths (the inbox, the
outbox and its relay, the projections) that overhead was most of the services' CPU: measured on
PostgreSQL, a select built once cost 185 µs through SQLAlchemy Core and 45–85 µs on the asyncpg
connection beneath it.

A ``DriverStatement`` keeps the Core statement as the one description of the SQL, compiles it once
per dialect and set of parameter names, and runs the compiled text on the driver (asyncpg's ``$n``,
or sqlite3's ``?`` on the event loop's thread, as ``shared.sqlite_on_loop`` runs it) with the same
bind and result processors SQLAlchemy would apply, so that a ``UtcDateTime`` is stored and read
back as it is through the ORM. The session stays the unit of work: the statement joins its
transaction (BEGIN is sent first when nothing else has been), so it commits and rolls back with
everything else in it, and a failure is raised as the same ``sqlalchemy.exc.DBAPIError`` subclass
(``IntegrityError``, ``OperationalError``…) that SQLAlchemy would raise.

Only plain statements qualify: no expanding ``IN`` lists (they are compiled per call), and every
parameter the SQL names is the caller's or bound in the statement itself (a column's Python-side
default is not applied here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, Float, Table, bindparam, exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine
from sqlmodel.ext.asyncio.session import AsyncSession

Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]

_DRIVER = "motcua.driver_statements.driver"


@dataclass(frozen=True)
class _Compiled:
    """A statement's SQL for one dialect and set of parameter names."""

    sql: str
    names: tuple[str, ...]  # the bind parameters in the order the SQL numbers them
    binds: tuple[Processor, ...]
    constants: Mapping[str, Any]  # values bound in the statement itself
    results: tuple[Processor, ...]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = parameters[name] if name in parameters else self.constants[name]
            # None too: SQLAlchemy's JSON, say, stores it as JSON's null.
            arguments.append(value if process is None else process(value))
        return arguments

    def row(self, values: Sequence[Any], *, start: int = 0) -> Row:
        """The row's values from column ``start`` on, processed."""
        results, rest = (
            (self.results, values) if not start else (self.results[start:], islice(values, start, None))
        )
        return tuple(
            value if process is None else process(value) for process, value in zip(results, rest, strict=True)
        )


class DriverStatement:
    """A Core statement (``select``, ``insert``, ``update``, ``delete``, ``text``) run on the session's
    driver connection: ``rows`` answers what it returns, ``run`` and ``run_many`` return nothing.

    ``repeated``: the first that many columns hold the same values on every row (a parent joined to
    its children), so they are processed on the first row only and the later rows share them."""

    def __init__(self, statement: ClauseElement, *, repeated: int = 0) -> None:
        self.statement = statement
        self.repeated = repeated
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    async def rows(self, session: AsyncSession, parameters: Mapping[str, Any] | None = None) -> list[Row]:
        """The rows the statement returns (a select's, or an INSERT … RETURNING's), processed."""
        parameters = parameters or {}
        dialect, adapter = await _driver(session)
        compiled = self._compile(dialect, parameters)
        records = await _fetch(dialect, adapter, compiled, compiled.arguments(parameters))
        if not self.repeated or len(records) < 2:
            return [compiled.row(record) for record in records]
        first = compiled.row(records[0])
        shared = first[: self.repeated]
        return [first, *(shared + compiled.row(record, start=self.repeated) for record in records[1:])]

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any] | None = None) -> None:
        await self.rows(session, parameters)

    async def run_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row (an executemany), every row naming the same parameters."""
        if not rows:
            return
        dialect, adapter = await _driver(session)
        compiled = self._compile(dialect, rows[0])
        arguments = [compiled.arguments(row) for row in rows]
        await _execute_many(dialect, adapter, compiled, arguments)

    def _compile(self, dialect: Dialect, parameters: Mapping[str, Any]) -> _Compiled:
        key = (dialect.name, frozenset(parameters))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self.statement, dialect, parameters)
        return compiled


class PerCount:
    """Driver statements that differ only in how many values they take (an ``IN`` list, the rows of
    an ``INSERT``), an expanding ``IN`` being compiled again for every call: ``build(count)`` makes
    the statement for ``count`` values, once, on first use."""

    def __init__(self, build: Callable[[int], ClauseElement]) -> None:
        self._build = build
        self._statements: dict[int, DriverStatement] = {}

    def __getitem__(self, count: int) -> DriverStatement:
        statement = self._statements.get(count)
        if statement is None:
            statement = self._statements[count] = DriverStatement(self._build(count))
        return statement


def numbered(name: str, count: int, type_: TypeEngine[Any]) -> list[BindParameter[Any]]:
    """``count`` bind parameters, ``{name}_0`` onwards, for ``numbered_values``."""
    return [bindparam(f"{name}_{number}", type_=type_) for number in range(count)]


def numbered_values(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """``values`` as the parameters ``numbered`` names."""
    return {f"{name}_{number}": value for number, value in enumerate(values)}


class DriverInsert:
    """``INSERT … VALUES`` of several rows in one statement on the driver, with ``ON CONFLICT DO
    NOTHING`` when duplicates are to be skipped (of any unique key, or of the one named), and
    ``RETURNING`` what is asked: the rows it inserted, which an executemany cannot answer. One
    statement per number of rows at once."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        skip_duplicates: bool | Sequence[str] = False,
        returning: Sequence[ColumnElement[Any]] = (),
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.skip_duplicates = skip_duplicates
        self.returning = tuple(returning)
        self._statements = PerCount(self._insert_of)

    async def rows(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[Row]:
        """What ``RETURNING`` answers of the rows inserted (none for a duplicate skipped)."""
        if not rows:
            return []
        parameters = {
            f"{name}_{number}": row[name] for number, row in enumerate(rows) for name in self.columns
        }
        return await self._statements[len(rows)].rows(session, parameters)

    def _insert_of(self, count: int) -> ClauseElement:
        values = [
            {name: bindparam(f"{name}_{number}", type_=self.table.c[name].type) for name in self.columns}
            for number in range(count)
        ]
        # ``postgresql.insert`` for ON CONFLICT, which SQLite spells the same way.
        insert = postgresql.insert(self.table).values(values)
        if self.skip_duplicates:
            key = None if self.skip_duplicates is True else list(self.skip_duplicates)
            insert = insert.on_conflict_do_nothing(index_elements=key)
        if self.returning:
            insert = insert.returning(*self.returning)  # type: ignore[assignment]
        return insert


def _compile(statement: ClauseElement, dialect: Dialect, parameters: Mapping[str, Any]) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(parameters), for_executemany=True)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError(f"not a plain statement (its SQL changes per call): {compiled.string}")
    names = tuple(compiled.positiontup or ())
    constants = {
        name: value
        for name, value in compiled.construct_params(_check=False).items()
        if name not in parameters
    }
    # A column's Python-side default is computed by SQLAlchemy's execution, which is not run here.
    defaulted = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    required = [name for name in names if compiled.binds[name].required]
    missing = sorted({name for name in (*defaulted, *required) if name not in parameters})
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in {compiled.string}")
    binds = tuple(compiled._bind_processors.get(name) for name in names)
    results = tuple(_result_processor(column.type, dialect) for column in compiled._result_columns)
    return _Compiled(compiled.string, names, binds, constants, results)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    if dialect.name == "postgresql" and isinstance(type_, Float) and not type_.asdecimal:
        # asyncpg answers a double precision column with floats already. SQLAlchemy's processor
        # for it asks which type the server sent, which is known only once rows come.
        return None
    processor: Processor = type_._cached_result_processor(dialect, None)
    return processor


async def _driver(session: AsyncSession) -> tuple[Dialect, Any]:
    """The session's dialect and the DBAPI adapter of its connection, in its transaction, which has
    begun: on PostgreSQL the adapter sends BEGIN lazily, with its first statement, so it is sent here
    when no statement has been; on SQLite the session's begin event has sent it already."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_DRIVER)
    if known is not None and transaction is not None and known[0] is transaction:
        return known[1], known[2]
    connection = await session.connection()
    adapter: Any = (await connection.get_raw_connection()).dbapi_connection
    if connection.dialect.name == "postgresql" and adapter._transaction is None:
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection.dialect, adapter)
    return connection.dialect, adapter


async def _fetch(dialect: Dialect, adapter: Any, compiled: _Compiled, arguments: list[Any]) -> list[Any]:
    try:
        if dialect.name == "postgresql":
            async with adapter._execute_mutex:
                return list(await adapter._connection.fetch(compiled.sql, *arguments))
        # SQLite's statements run on the event loop's thread (``shared.sqlite_on_loop``).
        rows: list[Any] = await adapter.rows(compiled.sql, arguments)
        return rows
    except Exception as error:
        raise _translated(dialect, adapter, compiled, error) from error


async def _execute_many(
    dialect: Dialect, adapter: Any, compiled: _Compiled, arguments: list[list[Any]]
) -> None:
    try:
        if dialect.name == "postgresql":
            async with adapter._execute_mutex:
                await adapter._connection.executemany(compiled.sql, arguments)
        else:
            await adapter.run_many(compiled.sql, arguments)
    except Exception as error:
        raise _translated(dialect, adapter, compiled, error) from error


def _translated(dialect: Dialect, adapter: Any, compiled: _Compiled, error: Exception) -> Exception:
    """The error as SQLAlchemy raises it: the driver's error adapted to the DBAPI's kinds by the
    adapter, then wrapped in ``sqlalchemy.exc``'s (parameters left out: they may be personal data)."""
    dbapi_error = dialect.loaded_dbapi.Error
    if not isinstance(error, dbapi_error):
        try:
            adapter._handle_exception(error)
        except dbapi_error as adapted:
            error = adapted
        except Exception:
            return error
    return exc.DBAPIError.instance(
        compiled.sql, None, error, dbapi_error, hide_parameters=True, dialect=dialect
    )
