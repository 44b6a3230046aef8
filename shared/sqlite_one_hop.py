"""SQLite statements in one trip to aiosqlite's thread, not four.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes four calls of
each statement: it opens a cursor, executes, fetches the rows and closes the cursor. Each call is
a hop to that thread and back: a future, a queue, a wake-up of the event loop, and two waits for
the GIL, each up to the interpreter's switch interval (5 ms) on a busy process. Each hop also sends
the task to the back of the event loop's queue, with SQLite's one writer held when it is a write
transaction. Measured with bench/lifecycle.py, one hop instead of four took 5–10 % off the CPU per
dossier on SQLite.

``OneHopConnection`` is SQLAlchemy's adapter with a cursor (``OneHopCursor``) that makes those four
calls one function on aiosqlite's thread. Everything else is the adapter's own: its lock, its
commit and rollback, its error handling. It is put in place by ``use_one_hop``, when a connection
is made (``shared.db``).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any) -> tuple[sqlite3.Cursor, list[Any]]:
    """On aiosqlite's thread: the statement run, its rows read and its cursor closed. A closed
    cursor keeps its ``description``, ``rowcount`` and ``lastrowid``."""
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


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, each statement one hop: ``_cursor`` is the sqlite3 cursor of
    the last statement, already closed, or ``None`` before the first."""

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

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            cursor, rows = await self._connection._execute(
                _execute, self._connection._conn, operation, parameters
            )
            self._cursor = cursor
            self._rows = collections.deque(rows)
            return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            self._cursor = await self._connection._execute(
                _execute_many, self._connection._conn, operation, seq_of_parameters
            )
            return self

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's hop closed its cursor."""

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneHopCursor


def use_one_hop(adapter: Any) -> None:
    """Make a new connection's SQLAlchemy adapter (``AsyncAdapt_aiosqlite_connection``) make each
    statement one hop. Any other adapter is left as it is."""
    if type(adapter) is AsyncAdapt_aiosqlite_connection:
        adapter.__class__ = OneHopConnection
