"""A citizen on a phone, in a real browser: submits a birth registration (1.001193) with a PDF from
the portal, reads the receipt, looks the dossier up, gets a one-time code by email and opens the
dossier's page. Every page visited is photographed and checked with axe-core."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import PageCheck
from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT
from tests.system import APPLICANT, CODE, Mailbox, System, use_smtp


async def one_time_code(mailbox: Mailbox) -> str:
    """The code in the newest email to the applicant, read as they would read it."""

    def arrived() -> str:
        mails = [mail for mail in mailbox.messages if APPLICANT["email"] in str(mail["To"])]
        assert mails, "no email for the applicant yet"
        body = mails[-1].get_body(preferencelist=("plain",))
        assert body is not None
        found = re.search(r"\b(\d{6})\b", body.get_content())
        assert found is not None
        return found.group(1)

    return await eventually(arrived, timeout=30)


async def test_a_citizen_submits_a_birth_registration_with_a_pdf_and_looks_it_up(
    live_system: System,
    page: Page,
    check_page: PageCheck,
    smtp_server: tuple[Mailbox, int],
    tmp_path: Path,
) -> None:
    mailbox, port = smtp_server
    use_smtp(live_system, port)
    form_pdf = tmp_path / "to-khai-khai-sinh.pdf"
    form_pdf.write_bytes(PDF_DOCUMENT)
    portal = live_system.urls["intake"]

    # The catalog, searched without accents.
    await page.goto(f"{portal}/")
    await check_page(page, "catalog")
    await page.get_by_label("Tìm thủ tục").fill("dang ky khai sinh")
    await page.get_by_role("button", name="Tìm kiếm").click()
    await page.get_by_role("link", name="Đăng ký khai sinh").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đăng ký khai sinh")
    await check_page(page, "procedure")

    # The form: a wrong phone number comes back beside its field, with what was typed.
    await page.get_by_role("link", name="Nộp hồ sơ trực tuyến").click()
    await page.get_by_label("Họ và tên").fill(APPLICANT["full_name"])
    await page.get_by_label("Số CCCD").fill(APPLICANT["id_number"])
    await page.get_by_label("Số điện thoại").fill("090512")
    await page.get_by_label("Thư điện tử").fill(APPLICANT["email"])
    await page.get_by_label("Địa chỉ").fill(APPLICANT["address"])
    await page.get_by_label("Tờ khai đăng ký khai sinh").set_input_files(form_pdf)
    await check_page(page, "submission-form")
    await page.get_by_role("button", name="Nộp hồ sơ").click()
    await expect(page.locator("#phone-error")).to_contain_text("10 chữ số")
    await expect(page.get_by_label("Họ và tên")).to_have_value(APPLICANT["full_name"])
    await check_page(page, "submission-errors")

    await page.get_by_label("Số điện thoại").fill(APPLICANT["phone"])
    await page.get_by_label("Tờ khai đăng ký khai sinh").set_input_files(form_pdf)
    await page.get_by_role("button", name="Nộp hồ sơ").click()

    # The receipt: the code and the appointment to come.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Giấy tiếp nhận hồ sơ")
    code = (await page.locator("dd.code").inner_text()).strip()
    assert CODE.match(code), code
    await expect(page.get_by_text("to-khai-khai-sinh.pdf")).to_be_visible()
    await check_page(page, "receipt")
    await page.goto(f"{portal}/receipt/{code}/print")
    await expect(page.get_by_text("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")).to_be_visible()
    await check_page(page, "receipt-print")

    # The look-up: code and CCCD in a POST form show the status.
    await page.goto(f"{portal}/receipt/{code}")
    await page.get_by_role("link", name="Tra cứu hồ sơ").last.click()
    await expect(page.get_by_label("Mã hồ sơ")).to_have_value(code)
    await check_page(page, "lookup")
    await page.get_by_label("Số CCCD").fill(APPLICANT["id_number"])
    await page.get_by_role("button", name="Tra cứu").click()
    await expect(page.locator("#dossier-status")).to_have_text(re.compile("Mới đăng ký|Được tiếp nhận"))
    assert APPLICANT["id_number"] not in page.url
    await check_page(page, "lookup-status")

    # A one-time code by email opens the dossier with its history.
    await page.get_by_label("Thư điện tử").check()
    await page.get_by_role("button", name="Gửi mã xác thực").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nhập mã xác thực")
    await check_page(page, "one-time-code")
    await page.get_by_label("Mã xác thực").fill(await one_time_code(mailbox))
    await page.get_by_role("button", name="Xác nhận").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Hồ sơ {code}")
    await expect(page.get_by_text("Nộp hồ sơ trực tuyến")).to_be_visible()
    await check_page(page, "dossier")

    # English is a click away.
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="History")).to_be_visible()
    await check_page(page, "dossier-english")
