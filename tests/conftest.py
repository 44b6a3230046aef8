"""Fixtures shared by every test: a private nats-server, a database per service on SQLite or
PostgreSQL, runtime settings tuned for fast retries, and ``eventually`` for asynchronous checks.

PostgreSQL runs only when ``MOTCUA_TEST_POSTGRES_URL`` is set (e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); every test then gets its own schemas, which
are dropped afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast
from uuid import uuid4

import pytest

from shared.db import drop_schemas
from shared.nats_server import NatsServer
from shared.runtime import RuntimeSettings
from shared.settings import (
    DATABASE_SETTINGS,
    CommonSettings,
    DatabaseSettings,
    NatsSettings,
    OutboxSettings,
    ServiceName,
)

os.environ.setdefault("MOTCUA_JWT_SECRET", "test-secret-not-for-production-0123456789")

POSTGRES_URL_VARIABLE = "MOTCUA_TEST_POSTGRES_URL"

T = TypeVar("T")

DatabaseSettingsFactory = Callable[[ServiceName], DatabaseSettings]
RuntimeSettingsFactory = Callable[[ServiceName], RuntimeSettings]


async def eventually(
    check: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a deadline for retries, not for one await
    interval: float = 0.05,
) -> T:
    """Run ``check`` (sync or async) until it stops raising ``AssertionError``; return its value.

    After ``timeout`` seconds the last ``AssertionError`` is raised again.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return cast(T, result)
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(interval)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream of this test's own; the test may stop and start it."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_backend(request: pytest.FixtureRequest) -> str:
    backend = cast(str, request.param)
    if backend == "postgres" and not os.environ.get(POSTGRES_URL_VARIABLE):
        pytest.skip(f"{POSTGRES_URL_VARIABLE} not set")
    return backend


@pytest.fixture
async def database_settings(db_backend: str, tmp_path: Path) -> AsyncIterator[DatabaseSettingsFactory]:
    """``database_settings(service)``: that service's database for this test on ``db_backend``.

    Settings are built from explicit values, so ``MOTCUA_*_DATABASE_*`` variables never leak in.
    Calling it twice for one service gives the same database (as two replicas would share).
    """
    postgres_url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    prefix = f"t_{uuid4().hex[:10]}"
    schemas: list[str] = []

    def make(service: ServiceName) -> DatabaseSettings:
        settings_class = DATABASE_SETTINGS[service]
        if db_backend == "sqlite":
            return settings_class(
                database_url=f"sqlite+aiosqlite:///{tmp_path}/{service}.db", database_schema=None
            )
        schema = f"{prefix}_{service}"
        if schema not in schemas:
            schemas.append(schema)
        return settings_class(database_url=postgres_url, database_schema=schema)

    yield make

    if schemas:
        await drop_schemas(postgres_url, schemas)


@dataclass(frozen=True)
class BusAddress:
    """Where the services' NATS connections go, and each service's password there."""

    url: str
    passwords: Mapping[str, str]


@pytest.fixture
def bus_address(nats_server: NatsServer) -> BusAddress:
    return BusAddress(nats_server.url, nats_server.passwords)


@pytest.fixture
def runtime_settings(
    bus_address: BusAddress, database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> RuntimeSettingsFactory:
    """``runtime_settings(service)``: settings for a ``ServiceRuntime`` on this test's NATS and
    database, with short retry delays so that retries and dead-lettering happen within seconds."""

    def make(service: ServiceName) -> RuntimeSettings:
        return RuntimeSettings(
            # The tests act as the demo users and on the DEMO-SLA procedure.
            common=CommonSettings(data_dir=tmp_path / "data", demo=True),
            nats=NatsSettings(
                url=bus_address.url,
                # Each service as its own NATS user, with the permissions it has in production.
                user=service,
                password=bus_address.passwords[service],
                stream_replicas=1,
                max_deliver=3,
                ack_wait_seconds=5,
                retry_delays_seconds=[0.2, 0.4, 0.8],
                start_wait_seconds=2,
            ),
            outbox=OutboxSettings(idle_poll_seconds=0.2),
            database=database_settings(service),
        )

    return make
