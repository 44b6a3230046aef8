"""The chaos test runs only against PostgreSQL, the database of the production shape it copies."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import POSTGRES_URL_VARIABLE


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    """Keep each phase's report on the test, so that a fixture can tell whether the test failed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


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
async def postgres(
    postgres_url: str, schema_prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database. The run's schemas (``{schema_prefix}_*``) are dropped after
    a pass and kept after a failure, for a look at what went wrong."""
    engine = create_async_engine(postgres_url)
    try:
        yield engine
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            print(f"\nkept the schemas {schema_prefix}_* for inspection; drop them when done")
            return
        async with engine.begin() as conn:
            rows = await conn.execute(
                text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :prefix"),
                {"prefix": f"{schema_prefix}\\_%"},
            )
            for (schema,) in rows.all():
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
