"""Officers on a phone, in a real browser: sign in with the demo password, read the worklist, accept a
dossier from its page, take it through to an approval with an electronic result (a PDF), switch to
English and sign out; a manager's board receives an overdue alert addressed to the officer live
and acknowledges it. Every page visited is photographed and checked with axe-core."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from services.processing.sign_in.demo import DEMO_PASSWORD
from shared.events import AlertOverdue, AlertRecipient, utc_now
from tests.browser.conftest import PageCheck, board_reaches_notify, sign_in, sign_out
from tests.samples import PDF_DOCUMENT
from tests.system import System


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


async def test_a_managers_board_receives_an_overdue_alert_live_and_acknowledges_it(
    live_system: System, page: Page, check_page: PageCheck
) -> None:
    base = live_system.urls["processing"]
    board_reaches_notify(live_system)
    code = (await live_system.submit())["code"]
    await live_system.registered(code)

    await sign_in(page, base, "demo-manager")
    await page.get_by_role("link", name="Bảng theo dõi").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bảng theo dõi hạn xử lý")
    await expect(page.locator("#alerts-state")).to_have_text("Không có cảnh báo nào chưa xác nhận.")
    await expect(page.locator("#alerts")).to_have_attribute("data-live", "true")
    await check_page(page, "board-quiet")

    # Processing raises the alert (as its SLA timer would when the step's time runs out), addressed
    # to the step's officer alone; the manager's page hears of it from notify's live feed of the
    # alerts in their scope, without a reload (the marker set on this page survives).
    await page.evaluate("window.stillTheSamePage = true")
    now = utc_now()
    alert = AlertOverdue(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        level="step",
        step_index=0,
        step_name="Tiếp nhận, kiểm tra hồ sơ",
        agency_code="000.00.06.H56",
        unit_code="H56.HC.MOTCUA",
        owner="demo-officer",
        due_at=now - timedelta(minutes=5),
        raised_at=now,
        rung=0,
        recipients=[AlertRecipient(username="demo-officer", role="officer")],
    )
    await live_system.publish("processing", alert)
    card = page.locator("#alerts li").filter(has_text=code)
    await expect(card).to_contain_text("Quá hạn")
    await expect(page.locator("#alerts-state")).to_have_text("1 cảnh báo chưa xác nhận.")
    assert await page.evaluate("window.stillTheSamePage === true")
    inbox = await live_system.notify.get("/api/v1/inbox", headers=System.auth("demo-manager"))
    assert [item for item in inbox.json()["items"] if item["dossier_code"] == code] == []
    await check_page(page, "board-alert")

    await card.get_by_role("button", name=f"Xác nhận đã nắm {code}").click()
    await expect(page.locator("#alerts-state")).to_have_text(
        "Đã xác nhận cảnh báo. Không có cảnh báo nào chưa xác nhận."
    )
    await expect(card).to_have_count(0)
    acknowledged = await live_system.notify.get("/api/v1/alerts", headers=System.auth("demo-manager"))
    [row] = [item for item in acknowledged.json() if item["dossier_code"] == code]
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "demo-manager"
    await check_page(page, "board-acknowledged")
