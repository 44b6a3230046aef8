"""Processing's worklist pages within bounds: an offset past what the database's integers hold is
a 422 with the reason, not a server error (found by schemathesis, tests/api_fuzz.py).

Service tier: processing's app in process on a real temporary database, without NATS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.processing import directory
from services.processing.app import create_app
from services.processing.directory import PersonCreate
from shared.auth import issue_token
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import AuthSettings, CommonSettings
from tests.conftest import DatabaseSettingsFactory


@pytest.fixture
async def client(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    auth = AuthSettings()
    app = create_app(
        RuntimeSettings(
            common=CommonSettings(data_dir=tmp_path / "data"), database=database_settings("processing")
        ),
        auth=auth,
    )
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    async with runtime.db.session() as session:
        await directory.create_person(
            session, person=PersonCreate(username="paging-admin", full_name="Quản trị", role="admin")
        )
    token = issue_token("paging-admin", secret=auth.secret)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://processing",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            yield http
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


async def test_a_worklist_offset_past_the_bound_is_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/worklist", params={"offset": "137678377146463287246848"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]


async def test_a_worklist_offset_within_the_bound_pages_as_before(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/worklist", params={"offset": 10_000_000})
    assert response.status_code == 200
    assert response.json() == []
