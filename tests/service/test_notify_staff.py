"""Staff hear from notify: a step waiting for their unit, SLA alerts in the inbox and by email in
the language they chose, and, for managers who opt in, one daily digest instead of each alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from services.notify.messages.rendering import TemplateRenderer
from services.notify.models import Notification
from services.notify.settings import DigestSettings
from services.notify.staff.digest import write_digests
from shared.events import DirectoryPersonChanged, utc_now
from tests.conftest import eventually
from tests.system import Mailbox, System, overdue_alert, use_smtp

TUPHAP_OFFICER = "h56-hc-tuphap-officer"


async def inbox_of(system: System, username: str, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        response = await system.notify.get("/api/v1/inbox", headers=system.auth(username))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        assert len(items) == count, items
        return items

    return await eventually(check)


async def set_preferences(system: System, username: str, expect: int = 200, **wanted: Any) -> dict[str, Any]:
    response = await system.notify.put("/api/v1/preferences", json=wanted, headers=system.auth(username))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def act(system: System, code: str, action: str, username: str) -> None:
    response = await system.processing.post(
        f"/api/v1/dossiers/{code}/{action}", json={}, headers=system.auth(username)
    )
    assert response.status_code == 200, response.text


async def test_the_next_units_officers_hear_of_a_forwarded_step_but_nobody_of_their_own_action(
    system: System,
) -> None:
    code: str = (await system.submit())["code"]
    await system.registered(code)
    await act(system, code, "accept", "demo-officer")
    await act(system, code, "forward", "demo-officer")

    [waiting] = await inbox_of(system, TUPHAP_OFFICER, 1)
    assert waiting["event_type"] == "dossier.step.assigned"
    assert waiting["subject"] == f"Hồ sơ {code} chờ xử lý: Thẩm tra, ghi sổ hộ tịch"
    assert "Chưa có người nhận xử lý" in waiting["body"]

    # Claiming, like accepting, is the officer's own doing: it tells nobody anything.
    await act(system, code, "claim", TUPHAP_OFFICER)
    await system.publish("processing", overdue_alert(code, TUPHAP_OFFICER))
    await inbox_of(system, TUPHAP_OFFICER, 2)
    assert await inbox_of(system, "demo-officer", 0) == []


async def test_an_alert_reaches_staff_by_email_in_the_language_they_chose(
    system: System, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(system, port)
    await inbox_of(system, "demo-manager", 0)  # the directory copy has arrived
    assert (await set_preferences(system, "demo-manager", language="en"))["language"] == "en"
    await set_preferences(system, "demo-officer", email_alerts=False)

    alert = overdue_alert("000.00.06.H56-261127-0101", "demo-officer", "demo-manager")
    await system.publish("processing", alert)

    [manager_inbox] = await inbox_of(system, "demo-manager", 1)
    assert manager_inbox["subject"] == f"Alert: dossier {alert.dossier_code} is overdue"
    [officer_inbox] = await inbox_of(system, "demo-officer", 1)
    assert officer_inbox["subject"] == f"Cảnh báo: hồ sơ {alert.dossier_code} đã quá hạn"

    async def one_email() -> None:
        assert len(mailbox.messages) == 1

    await eventually(one_email)
    [message] = mailbox.messages
    assert message["To"] == "manager@demo.motcua.vn"
    assert message["Subject"] == f"Alert: dossier {alert.dossier_code} is overdue"
    assert "DOSSIER OVERDUE" in message.get_content()


async def test_inactive_staff_hear_nothing(system: System) -> None:
    await inbox_of(system, "demo-manager", 0)
    gone = DirectoryPersonChanged(
        username="demo-officer",
        full_name="Trần Thị Bình",
        role="officer",
        agency_code="000.00.06.H56",
        unit_code="H56.HC.MOTCUA",
        email="officer@demo.motcua.vn",
        active=False,
    )
    await system.publish("processing", gone)

    async def copy_knows_they_left() -> None:
        response = await system.notify.get("/api/v1/inbox", headers=system.auth("demo-officer"))
        assert response.status_code == 401

    await eventually(copy_knows_they_left)
    alert = overdue_alert("000.00.06.H56-261127-0102", "demo-officer", "demo-manager")
    await system.publish("processing", alert)

    await inbox_of(system, "demo-manager", 1)
    async with system.runtime("notify").db.reading() as session:
        stored = (
            await session.exec(select(Notification).where(Notification.recipient == "demo-officer"))
        ).all()
    assert stored == []


async def test_preferences_are_checked(system: System) -> None:
    await inbox_of(system, "demo-manager", 0)

    assert (await set_preferences(system, "demo-officer"))["daily_digest"] is False
    refused = await set_preferences(system, "demo-officer", expect=403, daily_digest=True)
    assert "managers and leaders" in refused["detail"]
    bad = await set_preferences(system, "demo-manager", expect=422, language="fr")
    assert "language" in str(bad["detail"])
    anonymous = await system.notify.put("/api/v1/preferences", json={})
    assert anonymous.status_code == 401

    response = await system.notify.get("/api/v1/preferences", headers=system.auth("demo-officer"))
    assert response.json() == {
        "username": "demo-officer",
        "language": "vi",
        "email_alerts": True,
        "daily_digest": False,
    }


async def test_a_manager_on_the_digest_gets_one_message_a_day_instead_of_each_alert(
    system: System,
) -> None:
    await inbox_of(system, "demo-manager", 0)
    await set_preferences(system, "demo-manager", daily_digest=True)
    alerts = [
        overdue_alert(f"000.00.06.H56-261127-{number:04d}", "demo-officer", "demo-manager")
        for number in range(201, 204)
    ]
    await system.publish("processing", *alerts)

    await inbox_of(system, "demo-officer", 3)
    notify = system.runtime("notify")
    digest_at = utc_now() + timedelta(minutes=1)

    async def all_alerts_stored() -> None:
        response = await system.notify.get("/api/v1/alerts", headers=system.auth("demo-manager"))
        assert len(response.json()) == 3

    await eventually(all_alerts_stored)
    assert await inbox_of(system, "demo-manager", 0) == []

    for _ in range(2):  # a second writer (another replica, a restart) stores nothing more
        async with notify.db.session() as session:
            await write_digests(
                session=session, renderer=TemplateRenderer(), period_end=digest_at, settings=DigestSettings()
            )

    [digest] = await inbox_of(system, "demo-manager", 1)
    assert digest["event_type"] == "digest.daily"
    assert digest["subject"].startswith("Tổng hợp cảnh báo hồ sơ đến ")
    assert digest["subject"].endswith(": 3 cảnh báo")
    assert "- Đã quá hạn: 3" in digest["body"]
    for alert in alerts:
        assert f"Hồ sơ {alert.dossier_code}: đã quá hạn" in digest["body"]
    emails = await system.notifications(System.auth("demo-manager"), channel="email")
    assert [row["event_type"] for row in emails] == ["digest.daily"]
    # The officer on the alerts is not on the digest: they hear of each one.
    assert [row["event_type"] for row in await inbox_of(system, "demo-officer", 3)] == ["alert.overdue"] * 3
