"""On SQLite each statement SQLAlchemy runs is one hop to aiosqlite's thread, and behaves as it did
with four: the same rows, counts, keys and errors, in the same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, insert, select, text, update

from shared.db import Database

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("count", Integer, nullable=False),
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


async def test_a_statement_is_one_hop(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with database.session() as session:
        await session.execute(insert(things).values(code="a", count=1))
        with counting_hops(monkeypatch) as hops:
            rows = (await session.execute(select(things.c.code, things.c.count))).all()
        assert rows == [("a", 1)]
        assert len(hops) == 1
        with counting_hops(monkeypatch) as hops:
            changed = await session.execute(update(things).values(count=things.c.count + 1))
        assert changed.rowcount == 1  # type: ignore[attr-defined]
        assert len(hops) == 1


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
