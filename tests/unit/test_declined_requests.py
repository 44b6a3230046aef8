"""A citizen's request processing could not act on: what the timeline says, and the message the
citizen gets, in Vietnamese and English on every channel."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.intake.projection import declined_note
from services.notify.messages.notifications import message_context
from services.notify.messages.rendering import TemplateRenderer
from shared.events import Applicant, CitizenRequest, DeclineReason, DossierRequestDeclined, DossierStatus

RENDERER = TemplateRenderer()
CODE = "000.00.06.H56-231027-0361"
# 09:32 on 03/11/2023 in Asia/Ho_Chi_Minh.
SENT = datetime(2023, 11, 3, 2, 32, tzinfo=UTC)
CASES: list[tuple[CitizenRequest, DeclineReason, DossierStatus]] = [
    ("supplement", "not_awaited", DossierStatus.DENIED),
    ("withdrawal", "already_resolved", DossierStatus.DONE),
    ("withdrawal", "already_ended", DossierStatus.CANCELLED),
    ("rating", "not_returned", DossierStatus.RELEASING),
    ("rating", "already_rated", DossierStatus.DONE),
]


def declined(request: CitizenRequest, reason: DeclineReason, status: DossierStatus) -> DossierRequestDeclined:
    return DossierRequestDeclined(
        dossier_code=CODE,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=Applicant(full_name="Nguyễn Văn An", id_number="049090001234"),
        received_at=SENT,
        request=request,
        request_event_id=uuid4(),
        requested_at=SENT,
        declined_at=SENT,
        reason=reason,
        dossier_status=status,
    )


@pytest.mark.parametrize(("request_kind", "reason", "status"), CASES)
def test_the_timeline_says_which_request_was_declined_when_it_was_sent_and_why(
    request_kind: CitizenRequest, reason: DeclineReason, status: DossierStatus
) -> None:
    note = declined_note(declined(request_kind, reason, status))
    assert "09:32 ngày 03/11/2023" in note
    expected = {"supplement": "Hồ sơ bổ sung", "withdrawal": "Yêu cầu rút hồ sơ", "rating": "Đánh giá"}
    assert note.startswith(expected[request_kind])
    why = {
        "not_awaited": "không còn chờ bổ sung",
        "already_resolved": "đã được giải quyết",
        "already_ended": "đã kết thúc",
        "not_returned": "chưa trả kết quả",
        "already_rated": "đã được đánh giá",
    }
    assert why[reason] in note


@pytest.mark.parametrize(("request_kind", "reason", "status"), CASES)
@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("channel", ["inbox", "email", "sms"])
def test_the_citizen_is_told_in_each_language_on_each_channel_with_the_dossiers_status(
    request_kind: CitizenRequest, reason: DeclineReason, status: DossierStatus, language: str, channel: str
) -> None:
    event = declined(request_kind, reason, status)
    message = RENDERER.render(event.type, language, message_context(event), channel=channel)
    assert CODE in message.subject and "\n" not in message.subject.strip()
    assert CODE in message.body
    named = status.vietnamese_name if language == "vi" else f"({int(status)})"
    assert named in message.body
    if channel == "sms":
        assert "\n" not in message.body.strip()
    else:
        title, gap, greeting = message.body.split("\n")[:3]
        assert title.isupper() and gap == "" and greeting.startswith(("Kính gửi", "Dear"))
