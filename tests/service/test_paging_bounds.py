"""Every list route bounds its paging: an offset past what a database integer holds is a clear 422
before any query runs, not a 500 from the driver (schemathesis found
``offset=10844515153889771520`` on notify's lists).

Service tier: the apps in process, with the caller stood in for an admin, so that the bound is what
answers: it is checked before any query runs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.notify.app import create_app as create_notify
from services.notify.messages.notifications import Reader
from services.notify.web.auth import current_reader, current_viewer
from services.processing.app import create_app as create_processing
from services.processing.auth import current_actor
from shared.http import MAX_OFFSET
from shared.runtime import RuntimeSettings
from shared.settings import CommonSettings
from shared.staff import Staff

HUGE = "10844515153889771520"


def runtime_settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(common=CommonSettings(data_dir=tmp_path / "data"))


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("notify", "/api/v1/notifications"),
        ("notify", "/api/v1/inbox"),
        ("notify", "/api/v1/alerts"),
        ("processing", "/api/v1/worklist"),
    ],
)
@pytest.mark.parametrize("offset", [HUGE, str(MAX_OFFSET + 1)])
async def test_an_offset_beyond_the_bound_is_422_not_500(
    tmp_path: Path, service: str, path: str, offset: str
) -> None:
    factory = create_notify if service == "notify" else create_processing
    app: FastAPI = factory(runtime_settings(tmp_path))
    app.dependency_overrides[current_viewer] = lambda: Staff("demo-admin", "admin", None, None)
    app.dependency_overrides[current_reader] = lambda: Reader(username="demo-admin")
    app.dependency_overrides[current_actor] = lambda: Staff("demo-admin", "admin", None, None)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(path, params={"offset": offset})
        assert response.status_code == 422, response.text
        assert "offset" in response.text
    finally:
        await app.state.runtime.db.dispose()
        app.state.runtime.tracer_provider.shutdown()
