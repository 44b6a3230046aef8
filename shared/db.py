"""One async SQLModel engine per service: a SQLite file by default, PostgreSQL in production.

The tables are made and changed by the service's migrations (``shared.migrations``)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, DateTime, Select, Table, TypeDecorator, event, exc, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.sqlite_on_loop import use_on_loop

T = TypeVar("T", bound=SQLModel)

_READ_ONLY = "motcua_read_only"
_MEMO = "motcua_memo"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# How long a request waits for its turn at a connection: the pool's own timeout.
CONNECTION_WAIT_SECONDS = 30.0


class Database:
    """An engine, its sessions, and the dialect facts the outbox and inbox need."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 8,
        max_overflow: int = 3,
        flow_pool_size: int = 4,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        connect_args: dict[str, Any] = {}
        engine_args: dict[str, Any] = {}
        if schema is not None:
            if not self.is_postgres:
                raise ValueError("a database schema can only be set for PostgreSQL")
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
            connect_args["server_settings"] = {"search_path": schema}
        if self.is_sqlite:
            # Statements run on the event loop's thread and never wait there (``shared.sqlite_on_loop``);
            # one that must wait for another process's writer waits on aiosqlite's thread.
            connect_args["timeout"] = 0
            connect_args["check_same_thread"] = False
            # Kept open too: opening one is a trip to aiosqlite's thread and its PRAGMAs.
            engine_args.update(pool_size=50, max_overflow=0)
        else:
            engine_args.update(pool_size=pool_size, max_overflow=max_overflow)

        def engine(**pool: Any) -> AsyncEngine:
            # Errors and logs then leave out bound parameters: they hold CCCDs and phone numbers.
            return create_async_engine(
                url, echo=echo, connect_args=connect_args, hide_parameters=True, **pool
            )

        self.engine: AsyncEngine = engine(**engine_args)
        # The event flow (the outbox relay, the consumers) has connections of its own on PostgreSQL,
        # and takes every other turn of SQLite's one writer while requests wait (``WriterTurns``):
        # never queued behind all the requests in front of it, as the events that move their
        # dossiers on would be. Otherwise a busy service keeps its own events waiting, and every
        # caller that polls for their effect polls longer.
        self.flow_engine: AsyncEngine = (
            self.engine if self.is_sqlite else engine(pool_size=flow_pool_size, max_overflow=0)
        )
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _replace_closed_connections(self.engine)
            _replace_closed_connections(self.flow_engine)
        self._writer_turns = WriterTurns() if self.is_sqlite else None
        # Requests take turns for the pool's connections in the order they came (``_request_turn``).
        self._request_turns = None if self.is_sqlite else asyncio.Semaphore(pool_size + max_overflow)
        # What this process remembers of the database's reference rows (see ``memo_of``).
        self.memo: dict[Hashable, Any] = {}
        self.sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, info={_MEMO: self.memo}
        )
        self.flow_sessions = async_sessionmaker(
            self.flow_engine, class_=AsyncSession, expire_on_commit=False, info={_MEMO: self.memo}
        )
        # On SQLite its transactions take no write lock, so they never hold up writers. On
        # PostgreSQL they run without BEGIN and COMMIT: in READ COMMITTED, the server's default and
        # ours, each statement reads a snapshot of its own inside a transaction too, so a session
        # that only reads loses nothing by it and saves two round trips.
        read_options: dict[str, Any] = {_READ_ONLY: True}
        if self.is_postgres:
            read_options["isolation_level"] = "AUTOCOMMIT"
        self.read_engine = self.engine.execution_options(**read_options)
        self.read_sessions = async_sessionmaker(
            self.read_engine, class_=AsyncSession, expire_on_commit=False, info={_MEMO: self.memo}
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise.

        SQLite has one writer at a time. Writers of this process queue on an asyncio lock rather
        than on SQLite's busy handler, which sleeps in growing steps and wastes most of the wait;
        the busy timeout is left for writers in other processes.
        """
        async with (
            self._request_turn(),
            self._writer_turn(flow=False),
            self.sessions() as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def flow_session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work of the event flow (the outbox relay, the consumers), as ``session`` but
        on the flow's own connections, and taking turns with requests for SQLite's writer."""
        async with self._writer_turn(flow=True), self.flow_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _request_turn(self) -> AsyncIterator[None]:
        """On PostgreSQL, a turn for one of the request pool's connections, taken in the order the
        requests came, and passed on to the one that has waited longest when it ends. The pool's own
        queue hands a connection given back to whoever asks first, before the waiter it woke has run
        again, a few turns of a busy event loop later: under load a waiter was overtaken again and
        again (bench/lifecycle.py: officer actions p99 1.0 s, 0.3-0.4 s with turns). asyncio's
        semaphore lets nobody pass its waiters. SQLite's requests have a connection each, and its
        writers take turns already (``WriterTurns``)."""
        if self._request_turns is None:
            yield
            return
        try:
            async with asyncio.timeout(CONNECTION_WAIT_SECONDS):
                await self._request_turns.acquire()
        except TimeoutError as error:
            # As the pool would say it, whose own wait never starts now.
            raise exc.TimeoutError(
                f"no database connection came free within {CONNECTION_WAIT_SECONDS:g} s"
            ) from error
        try:
            yield
        finally:
            self._request_turns.release()

    @asynccontextmanager
    async def _writer_turn(self, *, flow: bool) -> AsyncIterator[None]:
        if self._writer_turns is None:
            yield
            return
        await self._writer_turns.acquire(flow=flow)
        try:
            yield
        finally:
            self._writer_turns.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: on SQLite it takes no write lock, so it never holds up writers."""
        async with self._request_turn(), self.read_sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.flow_engine is not self.engine:
            await self.flow_engine.dispose()


class WriterTurns:
    """SQLite's one writer, taken in turn by this process's writers: the event flow's and the
    requests' alternate while both wait, so that the flow never waits behind a queue of requests
    and requests never behind a backlog of the flow's. Waiters of each kind are served in the order
    they came; a turn that ends passes straight to the next waiter, so nobody arriving meanwhile
    takes it first."""

    def __init__(self) -> None:
        self._held = False
        self._flow_turn = True  # whose turn comes next when both wait
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    async def acquire(self, *, flow: bool) -> None:
        if not self._held and not any(self._waiting.values()):
            self._held = True
            self._flow_turn = not flow
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[flow]
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                # The turn came just as the waiter was cancelled: pass it on.
                self.release()
            else:
                queue.remove(turn)
            raise

    def release(self) -> None:
        for flow in (self._flow_turn, not self._flow_turn):
            queue = self._waiting[flow]
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    self._flow_turn = not flow
                    turn.set_result(None)
                    return
        self._held = False


async def drop_schemas(url: str, schemas: Iterable[str]) -> None:
    """Drop ``schemas`` and all they hold, on the PostgreSQL server at ``url``: the scratch schemas
    a test or a benchmark made for itself."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for schema in schemas:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def memo_of(session: AsyncSession) -> dict[Hashable, Any]:
    """The memo of the session's ``Database``: reference rows this process keeps so that hot paths need
    not read them again, chiefly those that never change once committed (a procedure version, the
    agency a unit belongs to); only what an earlier transaction committed belongs there. A session
    made outside a ``Database`` gets a memo of its own, which remembers nothing beyond it."""
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    return memo


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL (a file keeps it once set). The switch needs the file to
    itself and SQLite answers "database is locked" at once, without waiting on the busy timeout, while
    another connection is inside a transaction: two replicas opening one new file race there. So
    only a file not yet in WAL switches, retrying for a few seconds."""
    for attempt in range(100):
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, whichever adapter wraps it
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def _replace_closed_connections(engine: AsyncEngine) -> None:
    """Hand out no connection the server has closed (a restart, an idle timeout): the pool then opens
    a new one. This asks the driver, which saw the socket close, instead of pinging the server: a
    ping costs two round trips on every checkout, as much as a short transaction's own statements."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the database closed this connection")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
    instead of failing with "database is locked" when a read transaction tries to upgrade, and each
    statement run on the event loop's thread (``shared.sqlite_on_loop``)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        use_on_loop(dbapi_connection)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database: SQLite keeps no offset, so store UTC and put it back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The table of a SQLModel table class."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class Detached(Generic[T]):
    """Rows of a table read on the driver (``DriverStatement``) as objects of its SQLModel class,
    made as the ORM makes the objects of a query, but in no session: what is set on them is tracked
    (``inspect(obj).committed_state``), and no flush ever writes it. For a change that writes its
    own rows: an object of a session would cost its identity map, its unit of work, and taking it
    out again."""

    def __init__(self, model: type[T]) -> None:
        mapper = sa_inspect(model)
        self.table = table_of(model)
        self._manager = mapper.class_manager
        self._keys = tuple(mapper.get_property_by_column(column).key for column in self.table.columns)

    def select(self) -> Select[Any]:
        """Every column, in the order ``of`` reads them."""
        return select(*self.table.columns)

    def of(self, row: Sequence[Any]) -> T:
        instance: T = self._manager.new_instance()
        instance.__dict__.update(zip(self._keys, row, strict=True))
        make_transient_to_detached(instance)
        return instance


def insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's dialect; call ``.values(…)`` on it, then
    ``.on_conflict_do_nothing()``. Both dialects we run on spell it the same way."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert(session: AsyncSession, table: Any, *, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row, or overwrite ``values`` on the row with ``key``, in one statement, so that
    two writers at once cannot collide (``INSERT … ON CONFLICT (key) DO UPDATE``)."""
    statement = (
        insert_ignoring_duplicates(session, table)
        .values(**key, **values)
        .on_conflict_do_update(index_elements=list(key), set_=values)
    )
    await session.execute(statement)


def advisory_lock_key(*names: str | None) -> int:
    """A PostgreSQL advisory lock key (64 bits) for what ``names`` say, e.g. a purpose and a schema.
    Advisory locks are database-wide, so services (and tests) in schemas of their own name their
    schema to keep from waiting on one another."""
    digest = hashlib.sha256(":".join(name or "" for name in names).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def moment_field(*, optional: bool = False, index: bool = False) -> Any:
    """A SQLModel field holding an aware UTC datetime (``None`` by default when optional)."""
    column: Column[datetime] = Column(UtcDateTime(), nullable=optional, index=index)
    return Field(default=None, sa_column=column) if optional else Field(sa_column=column)
