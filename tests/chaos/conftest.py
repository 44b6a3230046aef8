"""The chaos test runs only against PostgreSQL, the database of the production shape it copies."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import POSTGRES_URL_VARIABLE


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"the chaos test needs PostgreSQL: set {POSTGRES_URL_VARIABLE} "
            "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"
        )
    return url


@pytest.fixture
def schema_prefix() -> str:
    return f"chaos_{uuid4().hex[:8]}"


@pytest.fixture
async def postgres(postgres_url: str, schema_prefix: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database; the run's schemas (``{schema_prefix}_*``) are dropped after."""
    engine = create_async_engine(postgres_url)
    try:
        yield engine
        async with engine.begin() as conn:
            rows = await conn.execute(
                text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :prefix"),
                {"prefix": f"{schema_prefix}\\_%"},
            )
            for (schema,) in rows.all():
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
