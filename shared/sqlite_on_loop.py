"""SQLite statements run on the event loop's thread, without a hop to aiosqlite's thread unless they
must wait for another process's writer.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes four calls of each
statement: it opens a cursor, executes, fetches the rows and closes the cursor. Each call is a hop to
that thread and back: a future, a queue, a wake-up of the event loop, and two waits for the GIL,
each up to the interpreter's switch interval (5 ms) on a busy process, all while a write transaction
holds SQLite's one writer. Yet a statement on a local file in WAL mode, which never syncs at commit
(``synchronous=NORMAL``), takes tens of microseconds, and never waits: readers never wait for the
writer, and this process's writers take turns before they begin (``shared.db.WriterTurns``). So the
statement, its rows, the commit and the rollback run on the loop's thread, in the call SQLAlchemy
makes, and so do the hot paths' statements (``shared.driver_statements``, through ``rows`` and
``run_many``). With bench/lifecycle.py on SQLite, in pairs run one after the other: 29.1 and 36.4
dossiers a second instead of 17.1 and 20.0, and 42-53 ms of CPU a dossier across the processes
instead of 73-86.

The price: a long statement holds the loop for as long as it runs, where on aiosqlite's thread it
held only SQLite's writer. The long ones are few and bounded: the reconciliation reads its pages of
500 dossiers, and the retention's hourly pass deletes 2,000 rows a statement (``shared.bus.retention``).

The one wait left is for the write lock that a writer of another process holds (a command of the
CLI, a second replica starting): the connection's busy timeout is 0, so that a statement which would
wait fails at once with ``SQLITE_BUSY`` instead of stopping the loop, and is then run again on
aiosqlite's thread with a busy timeout of 30 s (``WAITING_BUSY_MS``). A
statement that failed with ``SQLITE_BUSY`` changed nothing, so running it again is what SQLite's own
busy handler does.

``OnLoopConnection`` is SQLAlchemy's adapter with a cursor (``OnLoopCursor``) that does that. The
adapter's error handling is its own. It is put in place by ``use_on_loop``, when a connection is made
(``shared.db``), which also needs the sqlite3 connection opened with ``check_same_thread=False``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# How long a statement that must wait for another process's writer waits, on aiosqlite's thread.
WAITING_BUSY_MS = 30_000

T = TypeVar("T")


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any) -> tuple[sqlite3.Cursor, list[Any]]:
    """The statement run, its rows read and its cursor closed. A closed cursor keeps its
    ``description``, ``rowcount`` and ``lastrowid``."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()
    return cursor, rows


def _execute_many(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
    finally:
        cursor.close()
    return cursor


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _busy(error: Exception) -> bool:
    """SQLite said ``SQLITE_BUSY`` (or one of its extended codes): the lock is another's."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF == sqlite3.SQLITE_BUSY
    )


def _waiting(connection: sqlite3.Connection, work: Callable[..., T], *args: Any) -> T:
    """On aiosqlite's thread: ``work`` with the busy timeout set, and back to none after."""
    connection.execute(f"PRAGMA busy_timeout={WAITING_BUSY_MS}")
    try:
        return work(connection, *args)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


class OnLoopCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, each statement run at once: ``_cursor`` is the sqlite3 cursor
    of the last statement, already closed, or ``None`` before the first."""

    __slots__ = ()

    def __init__(self, adapt_connection: Any) -> None:
        # The base class opens an aiosqlite cursor here, a hop of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    @property
    def description(self) -> Any:
        return None if self._cursor is None else self._cursor.description

    @property
    def rowcount(self) -> int:
        return -1 if self._cursor is None else self._cursor.rowcount

    @property
    def lastrowid(self) -> int:
        return self._cursor.lastrowid

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        connection = cast(OnLoopConnection, self._adapt_connection)
        cursor, rows = connection.run(_execute, operation, parameters)
        # The base class types it as aiosqlite's cursor; here it is sqlite3's, closed.
        self._cursor = cast(Any, cursor)
        self._rows = collections.deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection = cast(OnLoopConnection, self._adapt_connection)
        self._cursor = cast(Any, connection.run(_execute_many, operation, seq_of_parameters))
        self._rows = collections.deque()

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement closed its cursor."""

    def close(self) -> None:
        self._rows.clear()


class OnLoopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OnLoopCursor

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work`` on the sqlite3 connection, here; on aiosqlite's thread, waiting for the write
        lock, when another process holds it. Through ``await_`` all the same, which SQLAlchemy's
        asyncio layer expects of every statement, though it returns at once."""
        try:
            return await_(self._run(work, *args))
        except Exception as error:
            self._handle_exception(error)

    async def rows(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of one statement, for ``shared.driver_statements``, which runs outside
        SQLAlchemy's greenlet."""
        _, rows = await self._run(_execute, sql, parameters)
        return rows

    async def run_many(self, sql: str, parameters: Sequence[Sequence[Any]]) -> None:
        """One statement for each set of ``parameters``, for ``shared.driver_statements``."""
        await self._run(_execute_many, sql, parameters)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        connection = self._connection._conn
        try:
            return work(connection, *args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        waited: T = await self._connection._execute(_waiting, connection, work, *args)
        return waited

    def commit(self) -> None:
        if self._connection._connection:
            self.run(_commit)

    def rollback(self) -> None:
        if self._connection._connection:
            self.run(_rollback)


def use_on_loop(adapter: Any) -> None:
    """Make a new connection's SQLAlchemy adapter (``AsyncAdapt_aiosqlite_connection``) run each
    statement here. Any other adapter is left as it is."""
    if type(adapter) is AsyncAdapt_aiosqlite_connection:
        adapter.__class__ = OnLoopConnection
