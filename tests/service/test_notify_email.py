"""The citizen's email: handed to a real SMTP server (aiosmtpd) after the notification commits,
retried on temporary failures up to a bound, given up at once on a permanent one, never sent twice."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.notify.channels.courier import Courier, delivery_outcomes
from services.notify.channels.delivery import AttemptResult, Claimed
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import DeliverySettings
from tests.conftest import eventually
from tests.system import (
    APPLICANT,
    Mailbox,
    System,
    accept_a_dossier,
    citizen_headers,
    free_port,
    use_smtp,
)

EMAIL = APPLICANT["email"]
CITIZEN = citizen_headers(APPLICANT["id_number"])


async def email_notification(system: System, *, settled: bool = True) -> dict[str, Any]:
    """The applicant's email notification with its delivery history, once nothing more will be tried."""

    async def check() -> dict[str, Any]:
        rows = await system.notifications(CITIZEN, channel="email")
        assert len(rows) == 1 and rows[0]["recipient"] == EMAIL, rows
        response = await system.notify.get(f"/api/v1/notifications/{rows[0]['id']}", headers=CITIZEN)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        if settled:
            assert found["status"] != "pending" and found["next_attempt_at"] is None, found
        return found

    return await eventually(check, timeout=30)


async def test_the_citizen_gets_the_receipt_by_email_in_vietnamese(
    system: System, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(system, port)

    code = await accept_a_dossier(system)
    notification = await email_notification(system)

    assert notification["channel"] == "email"
    assert notification["event_type"] == "dossier.accepted"
    assert notification["status"] == "sent"
    [attempt] = notification["delivery_attempts"]
    assert attempt["attempt"] == 1 and attempt["outcome"] == "sent"
    [message] = mailbox.messages
    assert message["To"] == EMAIL
    assert message["From"] == "motcua@demo.motcua.vn"
    assert message["Subject"].startswith(f"Hồ sơ {code} đã được tiếp nhận, hẹn trả kết quả lúc ")
    body = message.get_content()
    assert body.startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    assert f"Mã hồ sơ: {code}" in body
    assert "Đăng ký khai sinh (mã thủ tục 1.001193)" in body
    assert "Thời gian hẹn trả kết quả: " in body and " ngày " in body
    # The citizen's own notifications still hold exactly one receipt on each channel.
    own = await system.notifications(CITIZEN)
    assert sorted(row["channel"] for row in own) == ["email", "inbox", "sms"]

    # Nothing sends it again, whatever wakes the courier.
    system.apps["notify"].state.couriers.wake()
    await asyncio.sleep(1.0)
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("smtp_server", ["451 4.3.0 Mailbox busy, try again later"], indirect=True)
async def test_a_busy_mail_server_is_retried_up_to_the_bound_and_never_sent_twice(
    system: System, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(system, port, max_attempts=3)

    await accept_a_dossier(system)
    notification = await email_notification(system)

    assert notification["status"] == "temporary-failure"
    assert notification["attempts"] == 3
    attempts = notification["delivery_attempts"]
    assert [attempt["attempt"] for attempt in attempts] == [1, 2, 3]
    assert {attempt["outcome"] for attempt in attempts} == {"temporary-failure"}
    assert all(attempt["detail"].startswith("451") for attempt in attempts)
    assert mailbox.recipient_attempts == 3
    assert mailbox.messages == []


@pytest.mark.parametrize("smtp_server", ["550 5.1.1 No such user"], indirect=True)
async def test_an_unknown_mailbox_fails_permanently_on_the_first_attempt(
    system: System, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(system, port)

    await accept_a_dossier(system)
    notification = await email_notification(system)

    assert notification["status"] == "permanent-failure"
    [attempt] = notification["delivery_attempts"]
    assert attempt["outcome"] == "permanent-failure" and attempt["detail"].startswith("550")
    assert mailbox.recipient_attempts == 1


async def test_an_unreachable_mail_server_is_a_technical_failure_retried(system: System) -> None:
    use_smtp(system, free_port(), max_attempts=2)

    await accept_a_dossier(system)
    notification = await email_notification(system)

    assert notification["status"] == "technical-failure"
    assert [attempt["outcome"] for attempt in notification["delivery_attempts"]] == ["technical-failure"] * 2


async def test_with_smtp_off_the_email_waits_pending(system: System) -> None:
    await accept_a_dossier(system)

    notification = await email_notification(system, settled=False)

    assert notification["status"] == "pending"
    assert notification["delivery_attempts"] == []


async def test_two_replicas_never_send_the_same_email(system: System) -> None:
    await accept_a_dossier(system)
    pending = await email_notification(system, settled=False)
    sent: list[str] = []

    class CountingSender:
        channel = Channel.EMAIL

        def ready(self) -> bool:
            return True

        def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
            return None

        def longest_send(self) -> float:
            return 5.0

        async def send(self, claimed: Claimed) -> AttemptResult:
            sent.append(claimed.notification_id)
            await asyncio.sleep(0.05)
            return AttemptResult(NotificationStatus.SENT, "250 OK")

    # Two replicas' couriers on the same database, both switched on, racing for the same row.
    settings = DeliverySettings(poll_seconds=1)
    db = system.runtime("notify").db
    outcomes = delivery_outcomes(CollectorRegistry())
    couriers = [Courier(db, CountingSender(), lambda: settings, outcomes=outcomes) for _ in range(2)]
    await asyncio.gather(*(courier.deliver_due() for courier in couriers))

    assert sent == [pending["id"]]
    delivered = await email_notification(system)
    assert delivered["status"] == "sent"
    assert [attempt["attempt"] for attempt in delivered["delivery_attempts"]] == [1]
