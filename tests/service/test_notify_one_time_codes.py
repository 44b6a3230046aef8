"""Notify sends a citizen's one-time code once, to the contact named, urgently; never after it
expired; never to a webhook or into the citizen's list; and erases the message once the code has
expired.

Service tier: notify's real handlers on a real database, fed through the runtime's entry point; no
NATS.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import select

from services.notify.app import create_app
from services.notify.messages.one_time_codes import CODE_LIFETIME, ERASED, erase_expired
from services.notify.models import Notification
from services.notify.settings import WebhookEndpoint, WebhookSettings
from shared.auth import issue_citizen_token
from shared.events import CitizenOneTimeCodeIssued, utc_now
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory

ID_NUMBER = "049090001234"
PHONE = "0905123456"


def issued(*, expires_in: timedelta = timedelta(minutes=5), channel: str = "sms") -> CitizenOneTimeCodeIssued:
    return CitizenOneTimeCodeIssued(
        dossier_code="000.00.06.H56-261127-0001",
        challenge_id=uuid4(),
        code="482913",
        channel="sms" if channel == "sms" else "email",
        destination=PHONE if channel == "sms" else "an@example.vn",
        id_number=ID_NUMBER,
        expires_at=utc_now() + expires_in,
    )


@pytest.fixture
async def notify(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[FastAPI]:
    everything = WebhookEndpoint.model_validate(
        {"name": "portal", "url": "https://portal.example.vn/hook", "secret": "s" * 32, "events": ["*"]}
    )
    app = create_app(
        RuntimeSettings(
            common=CommonSettings(data_dir=tmp_path / "data"), database=database_settings("notify")
        ),
        webhook=WebhookSettings(endpoints=[everything]),
    )
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    try:
        yield app
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


async def stored(runtime: ServiceRuntime) -> list[Notification]:
    async with runtime.db.reading() as session:
        return list((await session.exec(select(Notification))).all())


async def test_a_code_is_one_urgent_sms_to_the_contact_named_and_no_webhook_hears_of_it(
    notify: FastAPI,
) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    event = issued()
    await runtime.deliver(event)
    await runtime.deliver(event)

    [row] = await stored(runtime)
    assert (row.channel, row.recipient, row.urgent, row.status) == ("sms", PHONE, True, "pending")
    assert "482913" in row.body and "5 phút" in row.body


async def test_a_code_by_email_goes_to_the_address(notify: FastAPI) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    await runtime.deliver(issued(channel="email"))

    [row] = await stored(runtime)
    assert (row.channel, row.recipient) == ("email", "an@example.vn")


async def test_a_code_that_expired_before_notify_got_it_is_not_sent(notify: FastAPI) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    await runtime.deliver(issued(expires_in=timedelta(seconds=-1)))

    assert await stored(runtime) == []


async def test_the_citizen_never_sees_the_code_in_their_list(notify: FastAPI) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    await runtime.deliver(issued())
    token = issue_citizen_token(ID_NUMBER, secret=os.environ["MOTCUA_JWT_SECRET"])

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notify), base_url="http://notify"
    ) as client:
        response = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200 and response.json() == []


async def test_once_the_code_expired_its_message_is_erased_and_an_unsent_one_given_up(
    notify: FastAPI,
) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    await runtime.deliver(issued())
    assert await erase_expired(runtime.db) == 0
    async with runtime.db.session() as session:
        await session.execute(
            update(Notification).values(created_at=utc_now() - CODE_LIFETIME - timedelta(seconds=1))
        )

    assert await erase_expired(runtime.db) == 1

    [row] = await stored(runtime)
    assert (row.subject, row.body) == (ERASED, ERASED)
    assert row.status == "permanent-failure" and row.next_attempt_at is None
    assert await erase_expired(runtime.db) == 0
