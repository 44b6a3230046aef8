"""The whole story through the pages, in a real browser on a phone's screen:

1. a citizen submits a birth registration (1.001193) with a PDF from the portal and reads the receipt;
2. officers sign in and work it to the result: accept and forward at the desk, forward at civil
   status and at the signature, approve at the seal, return the result at the desk;
3. the citizen's look-up page shows status 10 (the result returned);
4. a manager's board hears of a real SLA timer firing: a DEMO-SLA dossier, under a version an admin
   publishes with steps of seconds, goes overdue while the board is open, and the manager
   acknowledges the alert;
5. the reports page shows both dossiers in their columns of Biểu II.06a.

Every page is photographed and checked with axe-core."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import PageCheck, board_reaches_notify, sign_in, sign_out
from tests.conftest import eventually
from tests.samples import PDF_DOCUMENT
from tests.system import APPLICANT, CODE, System, submission

SECOND = 1 / 3600
# DEMO-SLA as an admin may publish it: the same steps, each lasting seconds on the 24/7 calendar,
# so that the reception step is overdue 4 s after acceptance and its unit's head hears of it 2 s
# later; nothing stalls during the test.
QUICK_DEMO_SLA = {
    "code": "DEMO-SLA",
    "name": "Thủ tục minh họa cảnh báo hạn xử lý (lịch 24/7, tính bằng phút)",
    "field": "Minh họa",
    "agency_code": "000.00.06.H56",
    "level": "full",
    "time_limit": {"value": 0.1, "unit": "minute"},
    "documents": [{"name": "Đơn đề nghị", "required": False}],
    "steps": [
        {"name": "Tiếp nhận", "unit_code": "H56.HC.MOTCUA", "hours": 4 * SECOND},
        {"name": "Xử lý", "unit_code": "H56.HC.TUPHAP", "hours": SECOND},
        {"name": "Phê duyệt", "unit_code": "H56.HC.LD", "hours": SECOND},
        {"name": "Trả kết quả", "unit_code": "H56.HC.MOTCUA", "hours": 0, "counted": False},
    ],
    "stall_hours": 1,
    "escalation_hours": [2 * SECOND, 1],
}
# Biểu II.06a's columns after the row's name, in the form's order, and the on-time rate.
COLUMNS = (
    *("received", "online", "in person", "carried over"),
    *("resolved", "early", "on time", "late"),
    *("in progress", "within time", "overdue"),
    *("ended", "rate"),
)
# Who does each step of a birth registration on the pages, and what.
FORWARD = ("forward", "Chuyển bước tiếp theo")
WORK: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("demo-officer", (("accept", "Tiếp nhận"), FORWARD)),
    ("h56-hc-tuphap-officer", (FORWARD,)),
    ("h56-hc-ld-officer", (FORWARD,)),
    ("h56-hc-vt-officer", (("approve", "Phê duyệt, ban hành kết quả"),)),
    ("demo-officer", (("return-result", "Trả kết quả"),)),
)


async def submit_from_the_portal(page: Page, portal: str, form_pdf: Path, check_page: PageCheck) -> str:
    """Step 1: the portal's form for 1.001193 with a PDF; the receipt's code."""
    await page.goto(f"{portal}/procedures/1.001193")
    await check_page(page, "1-procedure")
    await page.get_by_role("link", name="Nộp hồ sơ trực tuyến").click()
    await page.get_by_label("Họ và tên").fill(APPLICANT["full_name"])
    await page.get_by_label("Số CCCD").fill(APPLICANT["id_number"])
    await page.get_by_label("Số điện thoại").fill(APPLICANT["phone"])
    await page.get_by_label("Thư điện tử").fill(APPLICANT["email"])
    await page.get_by_label("Địa chỉ").fill(APPLICANT["address"])
    await page.get_by_label("Tờ khai đăng ký khai sinh").set_input_files(form_pdf)
    await check_page(page, "1-submission-form")
    await page.get_by_role("button", name="Nộp hồ sơ").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Giấy tiếp nhận hồ sơ")
    code = (await page.locator("dd.code").inner_text()).strip()
    assert CODE.match(code), code
    await expect(page.get_by_text(form_pdf.name)).to_be_visible()
    await check_page(page, "1-receipt")
    return code


async def work_the_step(
    page: Page,
    base: str,
    code: str,
    username: str,
    actions: tuple[tuple[str, str], ...],
    check_page: PageCheck,
) -> None:
    """Step 2, one officer: sign in, open the dossier from the worklist, do each action on its form."""
    await sign_in(page, base, username)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ cần xử lý")
    await check_page(page, f"2-{username}-worklist-before-{actions[0][0]}")
    await page.get_by_role("link", name=code).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Hồ sơ {code}")
    for action, label in actions:
        await page.locator("summary", has_text=re.compile(f"^{label}$")).click()
        if action == "approve":
            await page.get_by_label("Tên giấy tờ kết quả").fill("Giấy khai sinh")
        await check_page(page, f"2-{username}-{action}")
        await page.get_by_role("button", name=label, exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            re.compile(f"Hồ sơ {re.escape(code)}|Hồ sơ cần xử lý")
        )
        if action == "accept":
            await expect(page.get_by_role("status")).to_contain_text("Đã thực hiện: Tiếp nhận.")
    await sign_out(page)


async def look_up(page: Page, portal: str, code: str, check_page: PageCheck) -> None:
    """Step 3: the look-up page shows status 10 once intake has heard of the returned result."""
    for attempt in range(8):
        await page.goto(f"{portal}/lookup?code={code}")
        await page.get_by_label("Số CCCD").fill(APPLICANT["id_number"])
        await page.get_by_role("button", name="Tra cứu").click()
        status = (await page.locator("#dossier-status").inner_text()).strip()
        if status == "Đã trả kết quả" or attempt == 7:
            break
        await asyncio.sleep(0.5)
    await expect(page.locator("#dossier-status")).to_have_text("Đã trả kết quả")
    assert APPLICANT["id_number"] not in page.url
    await check_page(page, "3-lookup-returned")


async def publish_quick_demo_sla(system: System) -> None:
    published = await system.processing.post(
        "/api/v1/admin/procedures", json=QUICK_DEMO_SLA, headers=System.auth("demo-admin")
    )
    assert published.status_code == 201, published.text


async def quick_demo_sla_offered(system: System) -> None:
    offered = (await system.intake.get("/api/v1/procedures/DEMO-SLA")).json()
    assert offered["time_limit"] == QUICK_DEMO_SLA["time_limit"], "intake has the seed's version still"


async def test_a_dossier_from_the_portal_to_the_result_the_board_and_the_report(
    live_system: System, page: Page, check_page: PageCheck, tmp_path: Path
) -> None:
    portal, base = live_system.urls["intake"], live_system.urls["processing"]
    board_reaches_notify(live_system)
    await publish_quick_demo_sla(live_system)
    form_pdf = tmp_path / "to-khai-khai-sinh.pdf"
    form_pdf.write_bytes(PDF_DOCUMENT)

    # 1. The citizen submits from the portal and reads the receipt.
    code = await submit_from_the_portal(page, portal, form_pdf, check_page)
    await live_system.registered(code)

    # 2. Officers work it to the result through the pages.
    for username, actions in WORK:
        await work_the_step(page, base, code, username, actions, check_page)

    # 3. The citizen reads status 10 on the look-up page.
    await look_up(page, portal, code, check_page)

    # 4. The manager's board is open when a DEMO-SLA dossier's reception step runs out of time.
    await sign_in(page, base, "demo-manager")
    await page.get_by_role("link", name="Bảng theo dõi").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bảng theo dõi hạn xử lý")
    await expect(page.locator("#alerts")).to_have_attribute("data-live", "true")
    await check_page(page, "4-board-quiet")
    await eventually(lambda: quick_demo_sla_offered(live_system))
    late = (await live_system.submit({**submission("DEMO-SLA"), "documents": []}))["code"]
    await live_system.registered(late)
    accepted = await live_system.processing.post(
        f"/api/v1/dossiers/{late}/accept", json={}, headers=System.auth("demo-officer")
    )
    assert accepted.status_code == 200, accepted.text
    card = page.locator("#alerts li").filter(has_text=late).filter(has_text="Quá hạn").first
    await expect(card).to_be_visible(timeout=20_000)
    # The counts per unit follow the alerts without a reload: the desk has an overdue dossier.
    await expect(page.locator("#counts .badge.bad").first).to_be_visible(timeout=10_000)
    await check_page(page, "4-board-overdue")
    alert_id = await card.get_attribute("data-alert")
    # That card by its id: ``card`` is found again at each use, and an escalation of the overdue
    # step (also "Quá hạn") is put first when it arrives.
    acknowledged_card = page.locator(f'#alerts li[data-alert="{alert_id}"]')
    await acknowledged_card.get_by_role("button", name=f"Xác nhận đã nắm {late}").click()
    await expect(acknowledged_card).to_have_count(0)
    acknowledged = await live_system.notify.get("/api/v1/alerts", headers=System.auth("demo-manager"))
    [row] = [item for item in acknowledged.json() if item["id"] == alert_id]
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "demo-manager"
    await check_page(page, "4-board-acknowledged")

    # 5. The reports page, by procedure: the birth registration received online and resolved in
    # time; the DEMO-SLA dossier received and in progress past its due time.
    await page.get_by_role("link", name="Báo cáo").click()
    await page.get_by_label("Tổng hợp theo").select_option("procedure")
    await page.get_by_role("button", name="Xem báo cáo").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Báo cáo")
    birth = await _cells(page, "Đăng ký khai sinh")
    assert {name: birth[name] for name in ("received", "online", "resolved", "late", "in progress")} == {
        "received": "1",
        "online": "1",
        "resolved": "1",
        "late": "0",
        "in progress": "0",
    }, birth
    assert int(birth["early"]) + int(birth["on time"]) == 1
    demo = await _cells(page, "Thủ tục minh họa")
    assert {name: demo[name] for name in ("received", "resolved", "in progress", "overdue")} == {
        "received": "1",
        "resolved": "0",
        "in progress": "1",
        "overdue": "1",
    }, demo
    await check_page(page, "5-reports")
    await page.get_by_role("link", name="English").click()
    await expect(
        page.get_by_role("heading", name="Form II.06a: progress and results of administrative procedures")
    ).to_be_visible()
    await check_page(page, "5-reports-english")


async def _cells(page: Page, name: str) -> dict[str, str]:
    """The numbers of Biểu II.06a's row for ``name``, by column."""
    row = page.locator("#progress tbody tr").filter(has=page.get_by_role("rowheader", name=re.compile(name)))
    cells = [text.strip() for text in await row.locator("td").all_inner_texts()]
    assert len(cells) == len(COLUMNS), cells
    return dict(zip(COLUMNS, cells, strict=True))
