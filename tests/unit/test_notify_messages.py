"""Every change a citizen hears of has a message in Vietnamese and English, in the inbox and by
email; SLA alerts have one for staff; delivery outcomes and retries follow the SMTP reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.channels.delivery import next_attempt_after, outcome_of_smtp_reply
from services.notify.messages.notifications import message_context
from services.notify.messages.recipients import citizen_recipients, wants
from services.notify.messages.rendering import TemplateRenderer
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import DeliverySettings, WebhookEndpoint
from services.notify.staff.alerts import kind_of
from shared.events import (
    AlertEscalated,
    AlertNearDue,
    AlertOverdue,
    AlertRecipient,
    AlertStalled,
    Applicant,
    CitizenNotice,
    DocumentRef,
    DossierAccepted,
    DossierRefused,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierSupplementRequested,
    DossierWithdrawn,
    SlaAlert,
)
from shared.staff import Staff

RENDERER = TemplateRenderer()
CODE = "000.00.06.H56-231027-0361"
AT = datetime(2023, 10, 27, 2, 32, tzinfo=UTC)  # 09:32 in Vietnam
APPLICANT = Applicant(full_name="Nguyễn Văn An", id_number="049090001234", email="an@example.vn")
COMMON = {
    "dossier_code": CODE,
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "agency_name": "UBND phường Hải Châu",
    "applicant": APPLICANT,
    "received_at": AT,
}


def citizen_notices() -> list[CitizenNotice]:
    return [
        DossierAccepted(
            **COMMON, accepted_at=AT, due_at=AT + timedelta(days=7), accepted_by="o", late_acceptance=False
        ),
        DossierRefused(**COMMON, refused_at=AT, refused_by="o", reason="Thiếu giấy chứng sinh"),
        DossierSupplementRequested(
            **COMMON,
            reason="Ảnh mờ",
            items=["Bản chụp CCCD"],
            deadline_at=AT + timedelta(days=5),
            requested_by="o",
        ),
        DossierWithdrawn(**COMMON, withdrawn_at=AT, reason="Nộp nhầm"),
        DossierResolved(
            **COMMON,
            outcome="approved",
            result=DocumentRef(name="Giấy khai sinh"),
            resolved_at=AT,
            resolved_by="o",
            due_at=AT,
            timeliness="on_time",
        ),
        DossierResolved(
            **COMMON,
            outcome="rejected",
            reason="Không đủ điều kiện",
            resolved_at=AT,
            resolved_by="o",
            due_at=AT,
            timeliness="early",
        ),
        DossierResultReturned(**COMMON, returned_at=AT, returned_by="o"),
        DossierRescheduled(
            **COMMON,
            reason="Chờ xác minh",
            previous_due_at=AT,
            new_due_at=datetime(2023, 11, 10, 2, 32, tzinfo=UTC),
            rescheduled_by="o",
            unit_code="H56.HC.TN",
        ),
    ]


ALERT_COMMON = {
    "dossier_code": CODE,
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "level": "step",
    "step_index": 1,
    "step_name": "Thẩm định",
    "agency_code": "000.00.06.H56",
    "unit_code": "H56.HC.TN",
    "owner": "demo-officer",
    "due_at": AT,
    "raised_at": AT,
    "recipients": [AlertRecipient(username="demo-officer", role="officer")],
}


def sla_alerts() -> list[SlaAlert]:
    return [
        AlertNearDue(**ALERT_COMMON),
        AlertOverdue(**ALERT_COMMON),
        AlertStalled(**ALERT_COMMON, idle_since=AT),
        AlertEscalated(**ALERT_COMMON, kind="overdue", rung=1),
    ]


@pytest.mark.parametrize("event", citizen_notices(), ids=lambda event: f"{event.type}")
@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("channel", ["inbox", "email"])
def test_every_citizen_notice_renders_in_both_languages_on_both_channels(
    event: CitizenNotice, language: str, channel: str
) -> None:
    message = RENDERER.render(event.type, language, message_context(event), channel=channel)

    assert CODE in message.subject and "\n" not in message.subject
    assert CODE in message.body
    assert "{{" not in message.body
    assert message.body.endswith("\n")
    assert ("tự động" in message.body or "automatically" in message.body) is (channel == "email")


def test_the_apology_letter_gives_the_reason_and_the_new_appointment() -> None:
    event = citizen_notices()[-1]

    message = RENDERER.render(event.type, "vi", message_context(event))

    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in message.body
    assert "Lý do: Chờ xác minh" in message.body
    assert "Thời gian hẹn trả kết quả mới: 09:32 ngày 10/11/2023" in message.body
    assert "09:32 ngày 10/11/2023" in message.subject


def test_a_supplement_request_lists_what_is_missing_and_by_when() -> None:
    event = citizen_notices()[2]

    body = RENDERER.render(event.type, "vi", message_context(event)).body

    assert "  - Bản chụp CCCD" in body
    assert "Hạn bổ sung: 09:32 ngày 01/11/2023" in body


def test_the_accepted_email_is_the_receipt_in_vietnamese() -> None:
    event = citizen_notices()[0]

    message = RENDERER.render(event.type, "vi", message_context(event), channel="email")

    assert message.body.startswith("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    assert "Thời gian hẹn trả kết quả: 09:32 ngày 03/11/2023" in message.body


@pytest.mark.parametrize("event", sla_alerts(), ids=lambda event: f"{event.type}")
def test_every_alert_renders_for_staff(event: SlaAlert) -> None:
    message = RENDERER.render(event.type, "vi", message_context(event))

    assert CODE in message.subject
    assert "Thẩm định" in message.body


def test_a_citizen_with_an_email_hears_in_the_inbox_and_by_email() -> None:
    inbox, email = citizen_recipients(citizen_notices()[0])

    assert (inbox.address, inbox.channel) == ("049090001234", Channel.INBOX)
    assert (email.address, email.channel, email.language) == ("an@example.vn", Channel.EMAIL, "vi")


def test_a_citizen_with_a_phone_hears_by_sms_and_only_a_supplement_request_is_urgent() -> None:
    with_phone = APPLICANT.model_copy(update={"phone": "0905123456"})
    for notice in citizen_notices():
        sms = citizen_recipients(notice.model_copy(update={"applicant": with_phone}))[-1]

        assert (sms.address, sms.channel) == ("0905123456", Channel.SMS)
        assert sms.urgent is (notice.type == "dossier.supplement.requested")


def test_a_webhook_endpoint_takes_the_event_types_its_patterns_match() -> None:
    endpoint = WebhookEndpoint(
        name="portal", url="https://portal.example.vn/hook", secret="s" * 16, events=["dossier.*"]
    )
    only_results = endpoint.model_copy(update={"events": ["dossier.resolved", "dossier.result.*"]})

    assert wants(endpoint, "dossier.accepted")
    assert not wants(endpoint, "alert.overdue")
    assert wants(only_results, "dossier.result.returned")
    assert not wants(only_results, "dossier.accepted")


def test_an_escalation_keeps_the_kind_it_escalates() -> None:
    assert [kind_of(alert) for alert in sla_alerts()] == ["near_due", "overdue", "stalled", "overdue"]


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (250, NotificationStatus.SENT),
        (421, NotificationStatus.TEMPORARY_FAILURE),
        (451, NotificationStatus.TEMPORARY_FAILURE),
        (550, NotificationStatus.PERMANENT_FAILURE),
        (554, NotificationStatus.PERMANENT_FAILURE),
    ],
)
def test_smtp_replies_decide_the_outcome(code: int, outcome: NotificationStatus) -> None:
    assert outcome_of_smtp_reply(code) is outcome


def test_temporary_failures_back_off_until_the_bound() -> None:
    settings = DeliverySettings(max_attempts=4, backoff_seconds=[10, 60])
    temporary = NotificationStatus.TEMPORARY_FAILURE

    waits = [next_attempt_after(temporary, attempt=n, now=AT, settings=settings) for n in (1, 2, 3, 4)]

    assert waits == [AT + timedelta(seconds=10), AT + timedelta(seconds=60), AT + timedelta(seconds=60), None]
    assert next_attempt_after(NotificationStatus.TECHNICAL_FAILURE, attempt=1, now=AT, settings=settings)
    assert (
        next_attempt_after(NotificationStatus.PERMANENT_FAILURE, attempt=1, now=AT, settings=settings) is None
    )
    assert next_attempt_after(NotificationStatus.SENT, attempt=1, now=AT, settings=settings) is None


def test_scope_is_the_unit_for_officers_and_managers_the_agency_for_leaders_everything_for_admins() -> None:
    where = {"agency_code": "A", "unit_code": "A.U1"}

    assert Staff("o", "officer", "A", "A.U1").in_scope(**where)
    assert not Staff("o", "officer", "A", "A.U2").in_scope(**where)
    assert Staff("m", "manager", "A", "A.U1").in_scope(**where)
    assert Staff("l", "leader", "A", None).in_scope(**where)
    assert not Staff("l", "leader", "B", None).in_scope(**where)
    assert Staff("x", "admin", None, None).in_scope(**where)
