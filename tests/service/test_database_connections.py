"""The pool hands out no connection the database server has closed."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import exc, text

import shared.db as db_module
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


async def test_a_request_waiting_for_a_connection_is_not_overtaken(postgres_url: str) -> None:
    """Requests that wait for a connection get one in the order they came. The pool alone hands a
    connection given back to whoever asks for it before the waiter it woke has run again, which
    takes a few turns of the event loop: on a busy service, where requests come at every turn, a
    waiter was overtaken again and again (bench/lifecycle.py on PostgreSQL: officer actions p99
    1.0 s, 0.3–0.4 s once requests take turns)."""
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    served: list[str] = []
    leave = asyncio.Event()

    async def request(name: str) -> None:
        async with database.reading() as session:
            await session.connection()
            served.append(name)
            if name == "holder":
                await leave.wait()

    try:
        holder = asyncio.create_task(request("holder"))
        await asyncio.sleep(0.1)
        waiter = asyncio.create_task(request("waiter"))
        await asyncio.sleep(0.1)
        leave.set()
        newcomers = []
        for number in range(50):  # a new request at every turn of the event loop
            newcomers.append(asyncio.create_task(request(f"newcomer {number}")))
            await asyncio.sleep(0)
        await asyncio.gather(holder, waiter, *newcomers)
        assert served[:3] == ["holder", "waiter", "newcomer 0"]
    finally:
        await database.dispose()


async def test_a_request_that_finds_no_connection_in_time_gets_the_pools_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "CONNECTION_WAIT_SECONDS", 0.2)
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    leave = asyncio.Event()

    async def holder() -> None:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
            await leave.wait()

    try:
        holding = asyncio.create_task(holder())
        await asyncio.sleep(0.1)
        with pytest.raises(exc.TimeoutError, match=r"no database connection came free within 0\.2 s"):
            async with database.reading() as session:
                await session.execute(text("SELECT 1"))
        leave.set()
        await holding
        # The turn that timed out was not kept: the connection serves the next request.
        async with database.reading() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.dispose()
