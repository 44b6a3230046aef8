"""Officers on a phone, in a real browser: sign in with the demo password, read the worklist, accept a
dossier from its page, take it through to an approval with an electronic result (a PDF), switch to
English and sign out. Every page visited is photographed and checked with axe-core."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from services.processing.sign_in.demo import DEMO_PASSWORD
from tests.browser.conftest import PageCheck
from tests.samples import PDF_DOCUMENT
from tests.system import System


async def sign_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập cán bộ")


async def act(
    system: System, code: str, action: str, username: str, body: dict[str, Any] | None = None
) -> None:
    response = await system.processing.post(
        f"/api/v1/dossiers/{code}/{action}", json=body or {}, headers=System.auth(username)
    )
    assert response.status_code == 200, response.text


async def test_an_officer_signs_in_works_a_dossier_and_approves_it_with_an_electronic_result(
    live_system: System, page: Page, check_page: PageCheck, tmp_path: Path
) -> None:
    base = live_system.urls["processing"]
    code = (await live_system.submit())["code"]
    await live_system.registered(code)

    # Anonymous: the sign-in page; a wrong password says so without telling which part was wrong.
    await page.goto(f"{base}/")
    await check_page(page, "sign-in")
    await sign_in(page, base, "demo-officer", "not-the-password")
    await expect(page.get_by_role("alert")).to_contain_text("Tên đăng nhập hoặc mật khẩu không đúng")
    await check_page(page, "sign-in-refused")

    await page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ cần xử lý")
    row = page.get_by_role("listitem").filter(has_text=code)
    await expect(row).to_contain_text("Còn hạn")
    await check_page(page, "worklist")

    await page.get_by_role("link", name=code).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Hồ sơ {code}")
    await check_page(page, "dossier-new")
    # Each action's summary opens its form.
    await page.locator("summary", has_text=re.compile("^Tiếp nhận$")).click()
    await page.get_by_role("button", name="Tiếp nhận", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Đã thực hiện: Tiếp nhận.")
    await check_page(page, "dossier-accepted")

    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Dossier {code}")
    await check_page(page, "dossier-english")
    await page.get_by_role("link", name="Tiếng Việt").click()
    await sign_out(page)

    # Civil status, signature: through the API; the seal's officer approves on the page with a PDF.
    await act(live_system, code, "forward", "demo-officer")
    await act(live_system, code, "forward", "h56-hc-tuphap-officer")
    await act(live_system, code, "forward", "h56-hc-ld-officer")
    result = tmp_path / "giay-khai-sinh.pdf"
    result.write_bytes(PDF_DOCUMENT)
    await sign_in(page, base, "h56-hc-vt-officer")
    await page.goto(f"{base}/dossiers/{code}")
    await page.locator("summary", has_text="Phê duyệt, ban hành kết quả").click()
    await page.get_by_label("Tên giấy tờ kết quả").fill("Giấy khai sinh")
    await page.get_by_label("Kết quả điện tử (PDF, không bắt buộc)").set_input_files(result)
    await check_page(page, "approve-form")
    await page.get_by_role("button", name="Phê duyệt, ban hành kết quả").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ cần xử lý")
    await check_page(page, "worklist-after-approval")

    dossier = (
        await live_system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()
    assert dossier["status"] == 9 and dossier["electronic_result"] is True

    await page.get_by_role("link", name="Đổi mật khẩu").click()
    await check_page(page, "password")
    await sign_out(page)
