"""The citizen portal's pages on intake, through the whole running system on the in-process bus:
the catalog, the submission form checked as the API checks it, the receipt, the look-up, the
one-time code that opens the citizen's session, and the citizen's forms on their dossier."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from services.intake.models import Dossier
from services.notify.models import Notification
from shared.events import DossierStatus
from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT as PDF
from tests.samples import png
from tests.service.test_intake_citizen import set_status
from tests.system import APPLICANT, System

FORM = "Tờ khai đăng ký khai sinh"
BIRTH_NOTE = "Giấy chứng sinh hoặc văn bản của người làm chứng"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def token_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def applicant(**changes: str) -> dict[str, str]:
    fields = {name: APPLICANT[name] for name in ("full_name", "id_number", "phone", "email", "address")}
    return {**fields, **changes}


async def dossiers(system: System) -> int:
    async with system.runtime("intake").db.reading() as session:
        return int((await session.execute(select(func.count()).select_from(Dossier))).scalar_one())


async def submit_form(
    system: System, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> httpx.Response:
    form = await system.intake.get("/procedures/1.001193/submit")
    assert form.status_code == 200
    key = KEY.search(form.text)
    assert key is not None
    data = {**fields, "csrf_token": token_of(form), "idempotency_key": key.group(1)}
    # (A browser also sends an empty part, with an empty file name, for each input left empty: the
    # browser test covers those.)
    return await system.intake.post("/procedures/1.001193/submit", data=data, files=files or None)


async def submitted(system: System) -> str:
    answer = await submit_form(system, applicant(), {"document_0": ("to-khai.pdf", PDF, "application/pdf")})
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/receipt/")
    return location.removeprefix("/receipt/")


async def sign_in(system: System, code: str) -> None:
    """Look the dossier up, have a code sent by SMS, read it where notify keeps the SMS, sign in."""
    page = await system.intake.get("/lookup", params={"code": code})
    found = await system.intake.post(
        "/lookup", data={"csrf_token": token_of(page), "code": code, "id_number": APPLICANT["id_number"]}
    )
    assert found.status_code == 200, found.text
    sent = await system.intake.post(
        "/lookup/one-time-code",
        data={
            "csrf_token": token_of(found),
            "code": code,
            "id_number": APPLICANT["id_number"],
            "channel": "sms",
        },
    )
    assert sent.status_code == 200, sent.text
    assert "09******56" in sent.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', sent.text)
    assert challenge is not None
    one_time_code = await eventually(lambda: sms_code(system))
    opened = await system.intake.post(
        "/sign-in",
        data={
            "csrf_token": token_of(sent),
            "code": code,
            "challenge_id": challenge.group(1),
            "otp": one_time_code,
        },
    )
    assert opened.status_code == 303 and opened.headers["location"] == f"/dossiers/{code}", opened.text
    cookie = opened.headers["set-cookie"].lower()
    assert "motcua_citizen=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


async def sms_code(system: System) -> str:
    async with system.runtime("notify").db.reading() as session:
        rows = (
            await session.execute(
                select(Notification.body).where(
                    col(Notification.event_type) == "citizen.one_time_code.issued"
                )
            )
        ).all()
    assert rows, "no one-time code reached notify yet"
    found = re.search(r"\b(\d{6})\b", rows[-1][0])
    assert found is not None
    return found.group(1)


# -- catalog ------------------------------------------------------------------------------------
async def test_the_catalog_is_searched_by_name_without_accents_or_by_code(system: System) -> None:
    everything = await system.intake.get("/")
    assert everything.status_code == 200 and "Đăng ký khai sinh" in everything.text
    assert '<html lang="vi">' in everything.text
    by_name = await system.intake.get("/", params={"q": "dang ky khai sinh"})
    assert 'href="/procedures/1.001193"' in by_name.text
    assert 'href="/procedures/2.000815"' not in by_name.text
    by_code = await system.intake.get("/", params={"q": "2.000815"})
    assert 'href="/procedures/2.000815"' in by_code.text
    assert 'href="/procedures/1.001193"' not in by_code.text
    nothing = await system.intake.get("/", params={"q": "không có thủ tục này"})
    assert "Không tìm thấy thủ tục phù hợp" in nothing.text


async def test_a_procedures_page_shows_its_documents_time_limit_and_fee_in_either_language(
    system: System,
) -> None:
    page = await system.intake.get("/procedures/1.001193")
    assert page.status_code == 200
    assert FORM in page.text and BIRTH_NOTE in page.text
    assert "0,5 ngày làm việc" in page.text and "Miễn lệ phí khi đăng ký đúng hạn" in page.text
    english = await system.intake.get("/procedures/1.001193", params={"lang": "en"})
    assert "0.5 working day(s)" in english.text and "Time limit" in english.text
    assert (await system.intake.get("/procedures/9.999999")).status_code == 404


# -- submission ---------------------------------------------------------------------------------
async def test_errors_come_back_beside_their_fields_with_everything_typed_and_nothing_stored(
    system: System,
) -> None:
    typed = applicant(phone="12345", id_number="999090001234", full_name="Trần Thị <Bình>")
    answer = await submit_form(system, typed, {"document_0": ("to-khai.pdf", PDF, "application/pdf")})
    assert answer.status_code == 422
    page = answer.text
    assert 'id="phone-error"' in page and "Số điện thoại Việt Nam gồm 10 chữ số" in page
    assert 'id="id_number-error"' in page and "Số CCCD gồm đúng 12 chữ số" in page
    assert 'id="full_name-error"' not in page
    # What was typed is there again, escaped; the files must be chosen again, and the page says so.
    assert 'value="Trần Thị &lt;Bình&gt;"' in page and 'value="999090001234"' in page
    assert "chọn lại các tệp" in page
    assert await dossiers(system) == 0


async def test_a_missing_required_document_and_a_file_that_is_not_a_pdf_are_refused(system: System) -> None:
    only_optional = {"document_1": ("giay-chung-sinh.pdf", PDF, "application/pdf")}
    missing = await submit_form(system, applicant(), only_optional)
    assert missing.status_code == 422 and 'id="documents-error"' in missing.text
    disguised = await submit_form(
        system,
        applicant(),
        {"document_0": ("to-khai.pdf", b"<html><script></script></html>", "application/pdf")},
    )
    assert disguised.status_code == 422 and 'id="document_0-error"' in disguised.text
    assert await dossiers(system) == 0


async def test_a_form_without_its_csrf_token_changes_nothing(system: System) -> None:
    await system.intake.get("/procedures/1.001193/submit")
    answer = await system.intake.post(
        "/procedures/1.001193/submit",
        data={**applicant(), "csrf_token": "0" * 64},
        files={"document_0": ("to-khai.pdf", PDF, "application/pdf")},
    )
    assert answer.status_code == 403
    assert await dossiers(system) == 0


async def test_a_submission_with_a_pdf_leads_to_its_receipt_which_prints(system: System) -> None:
    code = await submitted(system)
    receipt = await system.intake.get(f"/receipt/{code}")
    assert receipt.status_code == 200 and receipt.headers["cache-control"] == "no-store"
    assert code in receipt.text and "to-khai.pdf" in receipt.text
    assert "Sẽ được thông báo khi hồ sơ được tiếp nhận" in receipt.text
    printable = await system.intake.get(f"/receipt/{code}/print")
    assert printable.status_code == 200 and "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in printable.text
    assert APPLICANT["id_number"] in printable.text
    assert "frame-ancestors 'none'" in printable.headers["content-security-policy"]
    # Without the submission's cookie (or a session) the receipt leads to the look-up.
    stranger = httpx.AsyncClient(transport=system.intake._transport, base_url="http://intake")
    async with stranger:
        elsewhere = await stranger.get(f"/receipt/{code}/print")
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == f"/lookup?code={code}"


async def test_sending_the_same_form_twice_gives_one_dossier(system: System) -> None:
    form = await system.intake.get("/procedures/1.001193/submit")
    key = KEY.search(form.text)
    assert key is not None
    data = {**applicant(), "csrf_token": token_of(form), "idempotency_key": key.group(1)}
    files = {"document_0": ("to-khai.pdf", PDF, "application/pdf")}
    first = await system.intake.post("/procedures/1.001193/submit", data=data, files=files)
    second = await system.intake.post("/procedures/1.001193/submit", data=data, files=files)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await dossiers(system) == 1


# -- look-up and the citizen's session ------------------------------------------------------------
async def test_the_lookup_shows_the_status_and_a_wrong_cccd_learns_nothing(system: System) -> None:
    code = await submitted(system)
    page = await system.intake.get("/lookup", params={"code": code})
    assert f'value="{code}"' in page.text
    found = await system.intake.post(
        "/lookup", data={"csrf_token": token_of(page), "code": code, "id_number": APPLICANT["id_number"]}
    )
    assert found.status_code == 200 and "Mới đăng ký" in found.text
    assert APPLICANT["full_name"] not in found.text
    wrong = await system.intake.post(
        "/lookup", data={"csrf_token": token_of(page), "code": code, "id_number": "001099000001"}
    )
    assert wrong.status_code == 422 and "Không tìm thấy hồ sơ" in wrong.text


async def test_a_one_time_code_opens_the_dossier_with_its_timeline_until_sign_out(system: System) -> None:
    code = await submitted(system)
    assert (await system.intake.get(f"/dossiers/{code}")).status_code == 303
    await sign_in(system, code)
    page = await system.intake.get(f"/dossiers/{code}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Quá trình xử lý" in page.text and "Nộp hồ sơ trực tuyến" in page.text
    assert "Rút hồ sơ" in page.text
    # Another dossier of someone else is not found, as if it did not exist.
    other = await system.submit(
        {
            "procedure_code": "1.001193",
            "applicant": {**APPLICANT, "id_number": "001099000001"},
            "documents": [{"name": FORM}],
        }
    )
    assert (await system.intake.get(f"/dossiers/{other['code']}")).status_code == 404
    signed_out = await system.intake.post("/sign-out", data={"csrf_token": token_of(page)})
    assert signed_out.status_code == 303
    assert (await system.intake.get(f"/dossiers/{code}")).status_code == 303


async def test_a_wrong_one_time_code_is_refused_on_the_page(system: System) -> None:
    code = await submitted(system)
    page = await system.intake.get("/lookup", params={"code": code})
    sent = await system.intake.post(
        "/lookup/one-time-code",
        data={"csrf_token": token_of(page), "code": code, "id_number": APPLICANT["id_number"]},
    )
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', sent.text)
    assert challenge is not None
    wrong = await system.intake.post(
        "/sign-in",
        data={"csrf_token": token_of(sent), "code": code, "challenge_id": challenge.group(1), "otp": "abc"},
    )
    assert wrong.status_code == 422 and "Mã xác thực không đúng" in wrong.text
    assert "motcua_citizen" not in wrong.headers.get("set-cookie", "")


async def test_the_citizen_sends_the_supplement_asked_for_with_a_file(system: System) -> None:
    code = await submitted(system)
    # Processing has the dossier before intake's copy is set as processing's events would set it.
    await system.registered(code)
    await sign_in(system, code)
    deadline = datetime.now(UTC) + timedelta(days=5)
    await set_status(
        system, code, DossierStatus.WAITING, supplement_items=[BIRTH_NOTE], supplement_deadline_at=deadline
    )
    page = await system.intake.get(f"/dossiers/{code}")
    assert "Bổ sung hồ sơ" in page.text and BIRTH_NOTE in page.text
    sent = await system.intake.post(
        f"/dossiers/{code}/supplement",
        data={"csrf_token": token_of(page), "note": "Gửi giấy chứng sinh"},
        files={"document_0": ("giay-chung-sinh.png", png(), "image/png")},
    )
    assert sent.status_code == 303, sent.text[sent.text.find("<main") :]
    page = await system.intake.get(sent.headers["location"])
    assert "Đã gửi bổ sung hồ sơ." in page.text and "giay-chung-sinh.png" in page.text


async def test_the_citizen_rates_the_service_once_the_result_is_returned(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    await sign_in(system, code)
    await set_status(system, code, DossierStatus.DONE, returned_at=datetime.now(UTC))
    page = await system.intake.get(f"/dossiers/{code}")
    unexplained = await system.intake.post(
        f"/dossiers/{code}/rating", data={"csrf_token": token_of(page), "rating": "dissatisfied"}
    )
    assert unexplained.status_code == 422 and 'id="rating_reason-error"' in unexplained.text
    rated = await system.intake.post(
        f"/dossiers/{code}/rating", data={"csrf_token": token_of(page), "rating": "very_satisfied"}
    )
    assert rated.status_code == 303, rated.text[rated.text.find("<main") :]
    page = await system.intake.get(rated.headers["location"])
    assert "Cảm ơn bạn đã đánh giá." in page.text and "Rất hài lòng" in page.text


async def test_a_withdrawal_asked_from_the_page_is_confirmed_by_processing(system: System) -> None:
    code = await submitted(system)
    await system.registered(code)
    await sign_in(system, code)
    page = await system.intake.get(f"/dossiers/{code}")
    withdrawn = await system.intake.post(
        f"/dossiers/{code}/withdrawal", data={"csrf_token": token_of(page), "reason": "Nộp nhầm"}
    )
    assert withdrawn.status_code == 303, withdrawn.text[withdrawn.text.find("<main") :]
    page = await system.intake.get(withdrawn.headers["location"])
    assert "Đã gửi yêu cầu rút hồ sơ" in page.text

    async def confirmed() -> None:
        shown = await system.intake.get(f"/dossiers/{code}")
        assert '<dd id="dossier-status">Rút hồ sơ</dd>' in shown.text
        assert "Yêu cầu rút hồ sơ</button>" not in shown.text

    await eventually(confirmed)


async def test_a_session_form_needs_the_token_of_its_own_session(system: System) -> None:
    code = await submitted(system)
    anonymous_page = await system.intake.get("/lookup")
    await sign_in(system, code)
    # A token issued before the session (bound to no session) does not act within it.
    refused = await system.intake.post(
        f"/dossiers/{code}/withdrawal", data={"csrf_token": token_of(anonymous_page)}
    )
    assert refused.status_code == 403
    page = await system.intake.get(f"/dossiers/{code}")
    assert html.escape("Yêu cầu rút hồ sơ") in page.text


async def test_an_english_reader_gets_the_rules_own_words_beside_the_field(system: System) -> None:
    await system.intake.get("/lang", params={"to": "en", "next": "/"})
    answer = await submit_form(
        system, applicant(phone="123456789"), {"document_0": ("to-khai.pdf", PDF, "application/pdf")}
    )
    assert answer.status_code == 422 and '<html lang="en">' in answer.text
    assert "A Vietnamese phone number has 10 digits starting with 0 (or +84)" in answer.text


async def test_too_many_lookups_of_one_dossier_are_refused_on_the_page(system: System) -> None:
    code = await submitted(system)
    page = await system.intake.get("/lookup", params={"code": code})
    data = {"csrf_token": token_of(page), "code": code, "id_number": "001099000001"}
    answers = [await system.intake.post("/lookup", data=data) for _ in range(11)]
    assert "Không tìm thấy hồ sơ" in answers[0].text
    assert "Bạn đã tra cứu quá nhiều lần" in answers[-1].text
