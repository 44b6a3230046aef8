"""Notifications are read by their owner alone: a member of staff with their token, a citizen with
their citizen session; webhook deliveries, which carry whole events, by nobody over HTTP.

Service tier: notify's real handlers on a real database, fed through the runtime's own entry point,
and its HTTP routes in process; no NATS.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from services.notify.app import create_app
from services.notify.models import Channel, Notification
from services.notify.settings import WebhookEndpoint, WebhookSettings
from shared.auth import issue_citizen_token, issue_token
from shared.events import (
    AlertOverdue,
    AlertRecipient,
    Applicant,
    DirectoryPersonChanged,
    DossierAccepted,
    utc_now,
)
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory

AGENCY = "000.00.06.H56"
UNIT = "H56.HC.MOTCUA"
OWNER = Applicant(
    full_name="Nguyễn Văn An", id_number="049090001234", phone="0905123456", email="an@example.vn"
)
OTHER = Applicant(
    full_name="Lê Thị Hoa", id_number="048190007777", phone="0913000111", email="hoa@example.vn"
)
SECRET = os.environ["MOTCUA_JWT_SECRET"]


@dataclass
class Notify:
    runtime: ServiceRuntime
    client: httpx.AsyncClient

    async def read(self, headers: dict[str, str], path: str = "/api/v1/notifications") -> httpx.Response:
        return await self.client.get(path, headers=headers)

    async def own(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        response = await self.read(headers)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows


def staff(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(username, secret=SECRET)}"}


def citizen(id_number: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_citizen_token(id_number, secret=SECRET)}"}


def accepted(code: str, applicant: Applicant) -> DossierAccepted:
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    return DossierAccepted(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=applicant,
        received_at=now,
        accepted_at=now,
        due_at=now,
        accepted_by="officer-a",
        late_acceptance=False,
    )


def person(username: str, role: str, email: str) -> DirectoryPersonChanged:
    return DirectoryPersonChanged(
        username=username,
        full_name=username,
        role=role,
        agency_code=AGENCY,
        unit_code=UNIT,
        email=email,
        active=True,
    )


def overdue(code: str, *usernames: str) -> AlertOverdue:
    now = utc_now()
    return AlertOverdue(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        level="dossier",
        step_index=None,
        step_name=None,
        agency_code=AGENCY,
        unit_code=UNIT,
        owner=usernames[0],
        due_at=now,
        raised_at=now,
        recipients=[AlertRecipient(username=username, role="manager") for username in usernames],
    )


@pytest.fixture
async def notify(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[Notify]:
    portal = WebhookEndpoint.model_validate(
        {"name": "portal", "url": "https://portal.example.vn/hook", "secret": "s" * 32, "events": ["*"]}
    )
    app: FastAPI = create_app(
        RuntimeSettings(
            common=CommonSettings(data_dir=tmp_path / "data"), database=database_settings("notify")
        ),
        webhook=WebhookSettings(endpoints=[portal]),
    )
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notify"
        ) as client:
            service = Notify(runtime, client)
            for event in (
                person("manager-a", "manager", "manager-a@example.vn"),
                person("manager-b", "manager", "manager-b@example.vn"),
                accepted("000.00.06.H56-261127-0001", OWNER),
                accepted("000.00.06.H56-261127-0002", OTHER),
                overdue("000.00.06.H56-261127-0001", "manager-a", "manager-b"),
            ):
                await runtime.deliver(event)
            yield service
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


async def test_a_citizen_reads_their_own_inbox_sms_and_email_and_nobody_elses(notify: Notify) -> None:
    rows = await notify.own(citizen(OWNER.id_number))

    assert sorted((row["channel"], row["recipient"]) for row in rows) == [
        ("email", OWNER.email),
        ("inbox", OWNER.id_number),
        ("sms", OWNER.phone),
    ]
    assert {row["dossier_code"] for row in rows} == {"000.00.06.H56-261127-0001"}
    others = await notify.own(citizen(OTHER.id_number))
    for row in others:
        assert (
            await notify.read(citizen(OWNER.id_number), f"/api/v1/notifications/{row['id']}")
        ).status_code == 404


async def test_staff_read_their_own_alert_and_its_email_not_a_colleagues(notify: Notify) -> None:
    rows = await notify.own(staff("manager-a"))

    assert sorted((row["channel"], row["recipient"]) for row in rows) == [
        ("email", "manager-a@example.vn"),
        ("inbox", "manager-a"),
    ]
    colleague = await notify.own(staff("manager-b"))
    assert {row["recipient"] for row in colleague} == {"manager-b", "manager-b@example.vn"}
    shown = await notify.read(staff("manager-a"), f"/api/v1/notifications/{colleague[0]['id']}")
    assert shown.status_code == 404
    mine = await notify.read(staff("manager-a"), f"/api/v1/notifications/{rows[0]['id']}")
    assert mine.status_code == 200 and "delivery_attempts" in mine.json()


async def test_webhook_deliveries_are_never_shown_over_http(notify: Notify) -> None:
    async with notify.runtime.db.reading() as session:
        hooks = (
            await session.exec(select(Notification).where(Notification.channel == Channel.WEBHOOK))
        ).all()
    assert {hook.event_type for hook in hooks} >= {"dossier.accepted", "alert.overdue"}
    readers = [citizen(OWNER.id_number), citizen(OTHER.id_number), staff("manager-a"), citizen("portal")]
    for headers in readers:
        assert all(row["channel"] != "webhook" for row in await notify.own(headers))
        for hook in hooks:
            assert (await notify.read(headers, f"/api/v1/notifications/{hook.id}")).status_code == 404


async def test_no_token_an_unknown_user_or_a_bad_token_is_401_and_the_recipient_query_is_gone(
    notify: Notify,
) -> None:
    assert (await notify.read({})).status_code == 401
    assert (await notify.read(staff("nobody"))).status_code == 401
    assert (await notify.read({"Authorization": "Bearer not-a-token"})).status_code == 401
    response = await notify.client.get(
        "/api/v1/notifications", params={"recipient": OWNER.id_number}, headers=staff("manager-a")
    )
    assert all(row["recipient"] in {"manager-a", "manager-a@example.vn"} for row in response.json())
