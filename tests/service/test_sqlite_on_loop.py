"""On SQLite each statement SQLAlchemy runs, and each commit, runs on the event loop's thread, with no
hop to aiosqlite's thread, and behaves as it did there: the same rows, counts, keys and errors, in
the same transaction. A writer that must wait for another process's lock waits on aiosqlite's
thread, and the event loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, insert, select, text, update

from shared.db import Database
from shared.driver_statements import DriverStatement

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("count", Integer, nullable=False),
)

ADD = DriverStatement(insert(things))
FROM_FIVE = DriverStatement(
    select(things.c.code, things.c.count).where(things.c.count >= 5).order_by(things.c.code)
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/hops.db")
    async with db.session() as session:
        await session.run_sync(lambda sync_session: metadata.create_all(sync_session.connection()))
    yield db  # what follows runs whether the test passed or failed
    await db.dispose()


@contextmanager
def counting_hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions sent to aiosqlite's thread meanwhile."""
    hops: list[str] = []
    send = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await send(self, fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(aiosqlite.Connection, "_execute", counted)
        yield hops


async def test_statements_and_commits_make_no_hop(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await database.ping()  # the pool's connection is open: opening one hops, once
    with counting_hops(monkeypatch) as hops:
        async with database.session() as session:
            await session.execute(insert(things).values(code="a", count=1))
            rows = (await session.execute(select(things.c.code, things.c.count))).all()
            changed = await session.execute(update(things).values(count=things.c.count + 1))
            # And the hot paths' statements, which run on the driver (``DriverStatement``).
            await ADD.run_many(session, [{"code": "b", "count": 5}, {"code": "c", "count": 6}])
            driven = await FROM_FIVE.rows(session)
        async with database.reading() as session:
            counted = (await session.execute(select(things.c.count).where(things.c.code == "a"))).scalar_one()
    assert rows == [("a", 1)]
    assert changed.rowcount == 1  # type: ignore[attr-defined]
    assert driven == [("b", 5), ("c", 6)]
    assert counted == 2
    assert hops == []


async def test_a_writer_waits_for_another_process_without_stopping_the_loop(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's writer, as a command of the CLI would be: a connection of its own.
    other = sqlite3.connect(tmp_path / "hops.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO thing (code, count) VALUES ('other', 1)")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with database.session() as session:
            await session.execute(insert(things).values(code="mine", count=2))

    ticking = asyncio.create_task(tick())
    with counting_hops(monkeypatch) as hops:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writing.done()  # it waits for the lock, and the loop ran meanwhile
        assert ticks >= 10
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
    ticking.cancel()
    other.close()
    assert hops == ["_waiting"]  # BEGIN IMMEDIATE waited on aiosqlite's thread; the rest did not
    async with database.reading() as session:
        assert sorted((await session.execute(select(things.c.code))).scalars()) == ["mine", "other"]


async def test_rows_counts_and_keys_are_as_sqlalchemy_reports_them(database: Database) -> None:
    async with database.session() as session:
        added = await session.execute(insert(things).values(code="a", count=1))
        assert added.inserted_primary_key == (1,)
        await session.execute(insert(things), [{"code": "b", "count": 2}, {"code": "c", "count": 3}])
        returned = await session.execute(
            update(things).where(things.c.count >= 2).values(count=0).returning(things.c.code)
        )
        assert sorted(returned.scalars()) == ["b", "c"]
        nothing = await session.execute(update(things).where(things.c.code == "none").values(count=9))
        assert nothing.rowcount == 0  # type: ignore[attr-defined]
    async with database.reading() as session:
        rows = (await session.execute(select(things.c.code, things.c.count).order_by(things.c.id))).all()
        assert rows == [("a", 1), ("b", 0), ("c", 0)]
        assert (await session.execute(select(things.c.id).where(things.c.code == "none"))).first() is None


async def test_a_failure_is_sqlalchemys_error_and_rolls_back_the_transaction(database: Database) -> None:
    with pytest.raises(exc.IntegrityError):
        async with database.session() as session:
            await session.execute(insert(things).values(code="a", count=1))
            await session.execute(insert(things).values(code="a", count=2))
    with pytest.raises(exc.OperationalError):
        async with database.session() as session:
            await session.execute(text("SELECT nothing FROM nowhere"))
    async with database.reading() as session:
        assert (await session.execute(select(things.c.code))).all() == []
