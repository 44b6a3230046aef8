"""An admin's template override that tries to run code is refused over HTTP with 422, and nothing
is stored; a plain one is stored.

Service tier: notify's app in process over a real temporary database, without NATS."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from services.notify.app import create_app
from services.notify.models import Person, TemplateOverride
from shared.auth import issue_token
from shared.events import utc_now
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory
from tests.unit.test_notify_template_sandbox import SSTI_PAYLOADS

RECEIPT_INBOX = "/api/v1/admin/templates/vi/dossier.accepted/inbox"


@pytest.fixture
async def notify(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    common = CommonSettings(data_dir=tmp_path / "data")
    app = create_app(RuntimeSettings(common=common, database=database_settings("notify")))
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    async with runtime.db.session() as session:
        session.add(Person(username="admin-1", full_name="Quản trị", role="admin", changed_at=utc_now()))
    token = issue_token("admin-1", secret=os.environ["MOTCUA_JWT_SECRET"])
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://notify", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield runtime, client
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


async def stored_overrides(runtime: ServiceRuntime) -> list[TemplateOverride]:
    async with runtime.db.reading() as session:
        return list((await session.exec(select(TemplateOverride))).all())


@pytest.mark.parametrize("payload", SSTI_PAYLOADS[:4])
async def test_an_override_that_tries_to_run_code_gets_422_and_nothing_is_stored(
    notify: tuple[ServiceRuntime, httpx.AsyncClient], payload: str
) -> None:
    runtime, client = notify

    response = await client.put(RECEIPT_INBOX, json={"subject": "Hồ sơ {{ dossier_code }}", "body": payload})

    assert response.status_code == 422, response.text
    assert "not allowed" in response.json()["detail"]
    assert await stored_overrides(runtime) == []


async def test_an_override_reaching_a_private_attribute_through_a_variable_gets_422(
    notify: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, client = notify
    body = "{% set name = '_' ~ '_globals__' %}{{ lipsum | attr(name) }}"

    response = await client.put(RECEIPT_INBOX, json={"subject": "{{ dossier_code }}", "body": body})

    assert response.status_code == 422, response.text
    assert "may not do" in response.json()["detail"]
    assert await stored_overrides(runtime) == []


async def test_a_plain_override_is_stored(notify: tuple[ServiceRuntime, httpx.AsyncClient]) -> None:
    runtime, client = notify
    body = "Kính gửi {{ applicant.full_name }}: hẹn {{ due_at | vn_datetime }}."

    response = await client.put(RECEIPT_INBOX, json={"subject": "Hồ sơ {{ dossier_code }}", "body": body})

    assert response.status_code == 200, response.text
    assert [row.body for row in await stored_overrides(runtime)] == [body]
