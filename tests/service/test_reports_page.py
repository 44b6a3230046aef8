"""The reports page for signed-in staff: Biểu II.06a with the workflow's dossiers in their columns,
the 766 indicators with numerator and denominator (N/A when nothing is counted), the on-time charts
with their tables, the files the API would give, under the session cookie, and a bad period
answered beside its field. Service tier: the three services on an in-process bus."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest

from tests.service.test_reports import _period, outcomes  # noqa: F401 - a fixture
from tests.service.test_staff_sign_in import sign_in
from tests.system import System

CELLS = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
TAGS = re.compile(r"<[^>]+>")


@pytest.fixture
async def manager(system: System) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    async with httpx.AsyncClient(transport=transport, base_url="http://processing") as client:
        assert (await sign_in(client, "demo-manager")).status_code == 303
        yield client


def page_period() -> dict[str, str]:
    """The service tests' period as the page asks for it: the last day, not the day after."""
    period = _period()
    last = date.fromisoformat(period["to"]) - timedelta(days=1)
    return {"from": period["from"], "until": last.isoformat()}


def row_cells(html: str, heading: str) -> list[str]:
    """The texts of the table row whose first cell starts with ``heading``."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [TAGS.sub("", cell).strip() for cell in CELLS.findall(row)]
        if cells and cells[0].startswith(heading):
            return cells
    raise AssertionError(f"no row {heading!r}")


@pytest.mark.usefixtures("outcomes")
async def test_the_page_shows_the_progress_table_the_indicators_and_the_charts(
    manager: httpx.AsyncClient,
) -> None:
    response = await manager.get("/reports", params={**page_period(), "group": "unit"})
    assert response.status_code == 200, response.text
    html = response.text
    # Received 6 (5 online, 1 at the counter), resolved 3 (early, on time, late), in progress 3
    # (2 within time, 1 overdue), none ended; 4 of 6 on time.
    assert row_cells(html, "Tổng cộng")[1:] == [
        "6",
        "5",
        "1",
        "0",
        "3",
        "1",
        "1",
        "1",
        "3",
        "2",
        "1",
        "0",
        "66,7 %",
    ]
    assert row_cells(html, "Bộ phận Một cửa")[1] == "6"
    assert row_cells(html, "2.1 Tỷ lệ hồ sơ giải quyết đúng hạn")[1:4] == ["66,7 %", "4", "6"]
    # Nobody rated a resolved dossier: N/A, with its numerator and denominator.
    assert row_cells(html, "Mức độ hài lòng")[1:4] == ["Không có", "0", "0"]
    assert html.count('role="img"') == 2 and "Tỷ lệ giải quyết đúng hạn theo tuần" in html
    assert 'href="/reports/bieu-II.06a.xlsx?' in html and 'href="/reports/chi-so-766.csv?' in html
    assert 'aria-current="page">Báo cáo</a>' in html

    english = await manager.get("/reports", params={**page_period(), "lang": "en"})
    assert row_cells(english.text, "Total")[-1] == "66.7%"


@pytest.mark.usefixtures("outcomes")
async def test_the_files_are_the_apis_under_the_session_cookie(
    system: System, manager: httpx.AsyncClient
) -> None:
    for kind, route in (("bieu-II.06a", "progress"), ("chi-so-766", "indicators")):
        page_file = await manager.get(f"/reports/{kind}.csv", params={**page_period(), "group": "unit"})
        assert page_file.status_code == 200, page_file.text
        assert page_file.headers["content-type"].startswith("text/csv")
        api_file = await system.processing.get(
            f"/api/v1/reports/{route}",
            params=_period(group="unit", format="csv"),
            headers=System.auth("demo-manager"),
        )
        assert page_file.content == api_file.content
        assert page_file.headers["content-disposition"] == api_file.headers["content-disposition"]
    workbook = await manager.get("/reports/bieu-II.06a.xlsx", params=page_period())
    assert workbook.content.startswith(b"PK")


async def test_a_bad_period_is_answered_beside_its_field(manager: httpx.AsyncClient) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    late = await manager.get("/reports", params={"from": tomorrow})
    assert late.status_code == 422
    assert 'id="from-error"' in late.text and "Từ ngày phải từ 01/01/2000 đến hôm nay." in late.text
    backwards = await manager.get("/reports", params={"from": "2026-01-10", "until": "2026-01-01"})
    assert backwards.status_code == 422 and 'id="until-error"' in backwards.text
    garbled = await manager.get("/reports", params={"until": "01/02/2026"})
    assert garbled.status_code == 422 and "năm-tháng-ngày" in garbled.text
    assert "<table" not in garbled.text
    refused = await manager.get(
        "/reports/bieu-II.06a.csv", params={"from": "2026-01-10", "until": "2026-01-01"}
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "until"]


async def test_the_page_and_its_files_need_a_member_of_staff(system: System) -> None:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    async with httpx.AsyncClient(transport=transport, base_url="http://processing") as anonymous:
        for path in ("/reports", "/reports/chi-so-766.xlsx"):
            response = await anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")
