"""The citizen's receipt (phiếu hẹn) and refusal notice, rendered from real events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import TemplateNotFound, UndefinedError

from services.notify.messages.notifications import message_context
from services.notify.messages.recipients import citizen_recipients
from services.notify.messages.rendering import RenderedMessage, TemplateRenderer
from services.notify.models import Channel
from shared.events import Applicant, DossierAccepted, DossierRefused
from shared.vietnam_time import vn_datetime

RENDERER = TemplateRenderer()
APPLICANT = Applicant(full_name="Nguyễn Văn An", id_number="049090001234", phone="0905123456")
CODE = "000.00.06.H56-231027-0361"


def accepted() -> DossierAccepted:
    return DossierAccepted(
        dossier_code=CODE,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=APPLICANT,
        received_at=datetime(2023, 10, 27, 1, 15, tzinfo=UTC),
        accepted_at=datetime(2023, 10, 27, 2, 32, tzinfo=UTC),
        # 09:32 in Asia/Ho_Chi_Minh, given in UTC as the bus carries it.
        due_at=datetime(2023, 11, 3, 2, 32, tzinfo=UTC),
        accepted_by="demo-officer",
        late_acceptance=False,
    )


def refused() -> DossierRefused:
    return DossierRefused(
        dossier_code=CODE,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=APPLICANT,
        received_at=datetime(2023, 10, 27, 1, 15, tzinfo=UTC),
        refused_at=datetime(2023, 10, 27, 3, 5, tzinfo=UTC),
        refused_by="demo-officer",
        reason="Thiếu Giấy chứng sinh do cơ sở y tế cấp",
    )


def render(event: DossierAccepted | DossierRefused) -> RenderedMessage:
    return RENDERER.render(event.type, "vi", message_context(event))


def test_receipt_names_the_dossier_the_applicant_and_the_appointment_in_vietnam_time() -> None:
    message = render(accepted())

    assert CODE in message.subject
    assert "09:32 ngày 03/11/2023" in message.subject
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in message.body
    assert f"Mã hồ sơ: {CODE}" in message.body
    assert "Nguyễn Văn An" in message.body
    assert "Đăng ký khai sinh (mã thủ tục 1.001193)" in message.body
    assert "UBND phường Hải Châu" in message.body
    assert "Thời gian nộp hồ sơ: 08:15 ngày 27/10/2023" in message.body
    assert "Thời gian tiếp nhận hồ sơ: 09:32 ngày 27/10/2023" in message.body
    assert "Thời gian hẹn trả kết quả: 09:32 ngày 03/11/2023" in message.body
    assert "tra cứu" in message.body
    assert "CCCD" in message.body


def test_refusal_notice_gives_the_reason_and_whom_to_contact() -> None:
    message = render(refused())

    assert message.subject == f"Hồ sơ {CODE} không được tiếp nhận"
    assert f"Mã hồ sơ: {CODE}" in message.body
    assert "Đăng ký khai sinh (mã thủ tục 1.001193)" in message.body
    assert "Lý do: Thiếu Giấy chứng sinh do cơ sở y tế cấp" in message.body
    assert "Thời gian từ chối tiếp nhận: 10:05 ngày 27/10/2023" in message.body
    assert "liên hệ Bộ phận Tiếp nhận và Trả kết quả của UBND phường Hải Châu" in message.body


@pytest.mark.parametrize("event", [accepted(), refused()], ids=["accepted", "refused"])
def test_messages_are_plain_text_with_a_one_line_subject(event: DossierAccepted | DossierRefused) -> None:
    message = render(event)

    assert "\n" not in message.subject
    assert message.body.endswith("\n")
    assert not message.body.startswith(("\n", " "))
    assert "{{" not in message.body
    assert "&" not in message.body


def test_reason_is_not_html_escaped() -> None:
    event = refused().model_copy(update={"reason": 'Thiếu "Tờ khai" & bản sao <CCCD>'})

    assert 'Lý do: Thiếu "Tờ khai" & bản sao <CCCD>' in render(event).body


def test_a_missing_variable_fails_loudly() -> None:
    context = message_context(accepted())
    del context["due_at"]

    with pytest.raises(UndefinedError):
        RENDERER.render("dossier.accepted", "vi", context)


def test_an_unknown_event_type_or_language_has_no_template() -> None:
    with pytest.raises(TemplateNotFound):
        RENDERER.render("dossier.accepted", "fr", message_context(accepted()))
    with pytest.raises(TemplateNotFound):
        RENDERER.render("dossier.unknown", "vi", {})
    with pytest.raises(ValueError):
        RENDERER.render("../dossier.accepted", "vi", {})


def test_vn_datetime_shows_asia_ho_chi_minh_time() -> None:
    assert vn_datetime(datetime(2023, 11, 3, 2, 32, tzinfo=UTC)) == "09:32 ngày 03/11/2023"
    # Late evening UTC is already the next day in Vietnam.
    assert vn_datetime(datetime(2023, 12, 31, 17, 0, tzinfo=UTC)) == "00:00 ngày 01/01/2024"
    with pytest.raises(ValueError):
        vn_datetime(datetime(2023, 11, 3, 9, 32))


@pytest.mark.parametrize("event", [accepted(), refused()], ids=["accepted", "refused"])
def test_the_applicant_is_notified_in_the_inbox_by_id_number(event: DossierAccepted | DossierRefused) -> None:
    recipient, sms = citizen_recipients(event)

    assert recipient.address == "049090001234"
    assert recipient.channel is Channel.INBOX
    assert recipient.language == "vi"
    assert (sms.address, sms.channel) == ("0905123456", Channel.SMS)
