"""With an internal port set, metrics and the API docs are served only on it and are 404 on the
public port; health answers on both. Unset, the public port serves everything, as before.

Service tier: processing's app in process on a real temporary database, without NATS; the port a
request came in on is the one in its URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.processing.app import create_app
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings, HttpSettings
from tests.conftest import DatabaseSettingsFactory

PUBLIC = "http://processing:8002"
INTERNAL = "http://processing:9102"
INTERNAL_PATHS = ["/metrics", "/docs", "/redoc", "/openapi.json"]
AppFactory = Callable[[HttpSettings], AbstractAsyncContextManager[FastAPI]]


@pytest.fixture
def processing(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AppFactory:
    @asynccontextmanager
    async def make(http: HttpSettings) -> AsyncIterator[FastAPI]:
        app = create_app(
            RuntimeSettings(
                common=CommonSettings(data_dir=tmp_path / "data"),
                database=database_settings("processing"),
                http=http,
            )
        )
        runtime: ServiceRuntime = app.state.runtime
        await upgrade(runtime.db, runtime.migrations)
        try:
            yield app
        finally:
            await runtime.db.dispose()
            runtime.tracer_provider.shutdown()

    return make


async def get(app: FastAPI, base_url: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
        return await http.get(path)


async def test_with_an_internal_port_metrics_and_docs_are_404_on_the_public_port(
    processing: AppFactory,
) -> None:
    async with processing(HttpSettings(processing_internal_port=9102)) as app:
        for path in INTERNAL_PATHS:
            public = await get(app, PUBLIC, path)
            assert public.status_code == 404, path
            assert public.json() == {"detail": "Not Found"}
            assert (await get(app, INTERNAL, path)).status_code == 200, path
        metrics = await get(app, INTERNAL, "/metrics")
        assert "motcua_outbox_pending" in metrics.text


async def test_with_an_internal_port_health_answers_on_both_and_the_api_only_on_the_public_one(
    processing: AppFactory,
) -> None:
    async with processing(HttpSettings(processing_internal_port=9102)) as app:
        for base_url in (PUBLIC, INTERNAL):
            assert (await get(app, base_url, "/healthz")).status_code == 200
            assert (await get(app, base_url, "/readyz")).status_code in (200, 503)
        # Without a token: the route answers (401) on the public port, the internal one knows no API.
        assert (await get(app, PUBLIC, "/api/v1/worklist")).status_code == 401
        assert (await get(app, INTERNAL, "/api/v1/worklist")).status_code == 404


async def test_without_an_internal_port_the_public_port_serves_metrics_and_docs(
    processing: AppFactory,
) -> None:
    async with processing(HttpSettings()) as app:
        for path in INTERNAL_PATHS:
            assert (await get(app, PUBLIC, path)).status_code == 200, path
