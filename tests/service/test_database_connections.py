"""The pool hands out no connection the database server has closed."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from shared.db import Database
from tests.conftest import POSTGRES_URL_VARIABLE


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} not set")
    return url


async def _backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_the_server_closed_is_replaced_before_anyone_uses_it(postgres_url: str) -> None:
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    killer = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        first = await _backend_pid(database)
        assert await _backend_pid(database) == first  # the pool hands the same connection back
        async with killer.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.2)  # the driver reads the server's goodbye
        second = await _backend_pid(database)
        assert second != first
    finally:
        await database.dispose()
        await killer.dispose()
