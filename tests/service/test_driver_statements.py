"""Statements run on the driver's connection behave as SQLAlchemy's would: in the session's
transaction, with the same values stored and read back, and the same errors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    exc,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine.interfaces import Dialect

from shared.db import Database, UtcDateTime, drop_schemas
from shared.driver_statements import DriverStatement, PerCount, numbered, numbered_values
from tests.conftest import POSTGRES_URL_VARIABLE

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("seen_at", UtcDateTime(), nullable=True),
    Column("note", String(20), nullable=False, default="none"),
    Column("tags", JSON, nullable=True),
    Column("hours", Float, nullable=True),
)


class CountedJSON(TypeDecorator[Any]):
    """JSON whose reads are counted."""

    impl = JSON
    cache_ok = True
    reads = 0

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        CountedJSON.reads += 1
        return value


parents = Table("parent", metadata, Column("code", String(20), primary_key=True), Column("body", CountedJSON))
children = Table(
    "child",
    metadata,
    Column("parent_code", String(20), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("seen_at", UtcDateTime(), nullable=False),
)
PARENT_WITH_CHILDREN = DriverStatement(
    select(parents.c.code, parents.c.body, children.c.number, children.c.seen_at)
    .select_from(parents.outerjoin(children, children.c.parent_code == parents.c.code))
    .where(parents.c.code == bindparam("code"))
    .order_by(children.c.number),
    repeated=2,
)
ADD = DriverStatement(insert(things).values(note=bindparam("note", "")))
BY_CODE = DriverStatement(select(things.c.count, things.c.seen_at).where(things.c.code == bindparam("code")))
HOURS = DriverStatement(select(things.c.hours).where(things.c.code == bindparam("code")))
TAGS = DriverStatement(select(things.c.tags).where(things.c.code == bindparam("code")))
RETAG = DriverStatement(update(things).where(things.c.code == bindparam("match")))
COUNT_UP = DriverStatement(
    update(things)
    .where(things.c.code == bindparam("match"))
    .values(count=things.c.count + 1)
    .returning(things.c.count)
)
COUNTS_OF = PerCount(
    lambda count: (
        select(things.c.code, things.c.count)
        .where(things.c.code.in_(numbered("code", count, String())))
        .order_by(things.c.code)
    )
)
MOMENT = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)


class Boom(Exception):
    pass


@pytest.fixture
async def database(db_backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    if db_backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
        schema = None
    else:
        url = os.environ[POSTGRES_URL_VARIABLE]
        schema = f"t_{uuid4().hex[:10]}_driver"
        maker = Database(url)
        async with maker.session() as session:
            await session.execute(text(f'CREATE SCHEMA "{schema}"'))
        await maker.dispose()
        db = Database(url, schema=schema)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()
        if schema is not None:
            await drop_schemas(os.environ[POSTGRES_URL_VARIABLE], [schema])


async def test_what_is_stored_reads_back_the_same_through_the_driver_and_through_sqlalchemy(
    database: Database,
) -> None:
    async with database.session() as session:
        await ADD.run_many(
            session,
            [
                {"code": "a", "count": 1, "seen_at": MOMENT},
                {"code": "b", "count": 2, "seen_at": MOMENT.astimezone(UTC) + timedelta(hours=7)},
                {"code": "c", "count": 3, "seen_at": None},
            ],
        )
    async with database.reading() as session:
        assert await BY_CODE.rows(session, {"code": "a"}) == [(1, MOMENT)]
        assert await BY_CODE.rows(session, {"code": "c"}) == [(3, None)]
        assert await BY_CODE.rows(session, {"code": "none"}) == []
        read = (await session.execute(select(things.c.seen_at).where(things.c.code == "b"))).scalar_one()
    assert read == MOMENT + timedelta(hours=7)
    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)


async def test_a_list_of_values_takes_the_statement_for_its_length(database: Database) -> None:
    async with database.session() as session:
        await ADD.run_many(
            session, [{"code": code, "count": number, "seen_at": None} for number, code in enumerate("abcd")]
        )
    async with database.reading() as session:
        assert await COUNTS_OF[1].rows(session, numbered_values("code", ["c"])) == [("c", 2)]
        wanted = ["d", "a", "x"]
        assert await COUNTS_OF[3].rows(session, numbered_values("code", wanted)) == [("a", 0), ("d", 3)]
    assert COUNTS_OF[3] is COUNTS_OF[3]


async def test_json_is_written_and_read_as_sqlalchemy_does(database: Database) -> None:
    tags = {"items": ["Tờ khai", "CCCD"], "count": 2}
    async with database.session() as session:
        await ADD.run(session, {"code": "a", "count": 1, "seen_at": None, "tags": None})
        await RETAG.run(session, {"match": "a", "tags": tags})
    async with database.reading() as session:
        assert await TAGS.rows(session, {"code": "a"}) == [(tags,)]
        assert (await session.execute(select(things.c.tags))).scalar_one() == tags


async def test_a_float_reads_back_as_a_float_as_through_sqlalchemy(database: Database) -> None:
    """asyncpg's float processor asks for the type the server sent, unknown until rows come."""
    async with database.session() as session:
        await ADD.run(session, {"code": "a", "count": 1, "seen_at": None, "hours": 7.25})
        await ADD.run(session, {"code": "b", "count": 1, "seen_at": None, "hours": None})
    async with database.reading() as session:
        [(hours,)] = await HOURS.rows(session, {"code": "a"})
        assert await HOURS.rows(session, {"code": "b"}) == [(None,)]
        through_sqlalchemy = (
            await session.execute(select(things.c.hours).where(things.c.code == "a"))
        ).scalar_one()
    assert hours == through_sqlalchemy == 7.25
    assert type(hours) is float


async def test_none_is_stored_as_sqlalchemy_stores_it(database: Database) -> None:
    """A JSON column's None is JSON's null through SQLAlchemy (not SQL's NULL): the same here."""
    async with database.session() as session:
        await ADD.run(session, {"code": "driver", "count": 1, "seen_at": None, "tags": None})
        await session.execute(insert(things).values(code="orm", count=1, seen_at=None, tags=None))
    async with database.reading() as session:
        stored = select(things.c.code, things.c.tags.is_(None), things.c.seen_at.is_(None))
        rows = {code: flags for code, *flags in (await session.execute(stored.order_by(things.c.code))).all()}
    assert rows["driver"] == rows["orm"]


async def test_a_statement_joins_the_session_transaction_even_as_its_first(database: Database) -> None:
    with pytest.raises(Boom):
        async with database.session() as session:
            await ADD.run(session, {"code": "gone", "count": 1, "seen_at": MOMENT})
            raise Boom
    async with database.session() as session:
        await ADD.run(session, {"code": "kept", "count": 1, "seen_at": MOMENT})
        assert await COUNT_UP.rows(session, {"match": "kept"}) == [(2,)]
    async with database.reading() as session:
        assert await BY_CODE.rows(session, {"code": "gone"}) == []
        assert await BY_CODE.rows(session, {"code": "kept"}) == [(2, MOMENT)]


async def test_the_driver_and_sqlalchemy_share_one_transaction(database: Database) -> None:
    with pytest.raises(Boom):
        async with database.session() as session:
            await session.execute(insert(things).values(code="x", count=1))
            await COUNT_UP.run(session, {"match": "x"})
            assert (await session.execute(select(things.c.count))).scalar_one() == 2
            raise Boom
    async with database.reading() as session:
        assert (await session.execute(select(things.c.code))).all() == []


async def test_a_broken_constraint_is_sqlalchemys_integrity_error_and_changes_nothing(
    database: Database,
) -> None:
    async with database.session() as session:
        await ADD.run(session, {"code": "a", "count": 1, "seen_at": None})
    with pytest.raises(exc.IntegrityError):
        async with database.session() as session:
            await COUNT_UP.run(session, {"match": "a"})
            await ADD.run(session, {"code": "a", "count": 5, "seen_at": None})
    async with database.reading() as session:
        assert await BY_CODE.rows(session, {"code": "a"}) == [(1, None)]


def test_a_statement_whose_sql_changes_per_call_or_lacks_a_value_is_refused() -> None:
    from sqlalchemy.dialects.sqlite import aiosqlite

    dialect = aiosqlite.dialect()
    codes = bindparam("codes", expanding=True)
    expanding = DriverStatement(select(things.c.code).where(things.c.code.in_(codes)))
    with pytest.raises(ValueError, match="changes per call"):
        expanding._compile(dialect, {"codes": ["a"]})
    # A column's Python-side default is SQLAlchemy's to apply, not the driver's.
    with pytest.raises(ValueError, match="no value for note"):
        DriverStatement(insert(things))._compile(dialect, {"code": "a", "count": 1})


async def test_a_parent_joined_to_its_children_is_processed_once(database: Database) -> None:
    async with database.session() as session:
        await session.execute(
            insert(parents), [{"code": "p", "body": {"a": [1]}}, {"code": "q", "body": None}]
        )
        await session.execute(
            insert(children), [{"parent_code": "p", "number": n, "seen_at": MOMENT} for n in (2, 1, 3)]
        )
    async with database.reading() as session:
        CountedJSON.reads = 0
        rows = await PARENT_WITH_CHILDREN.rows(session, {"code": "p"})
        assert CountedJSON.reads == 1  # the parent's JSON, once for its three rows
        assert rows == [("p", {"a": [1]}, n, MOMENT) for n in (1, 2, 3)]
        # No children: one row, its children's columns empty.
        assert await PARENT_WITH_CHILDREN.rows(session, {"code": "q"}) == [("q", None, None, None)]
        assert await PARENT_WITH_CHILDREN.rows(session, {"code": "none"}) == []
