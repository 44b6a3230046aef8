"""The reports read through processing's API after the real workflow ran on a few dossiers: Biểu
II.06a's columns, the 766 indicators, the downloads, the chart, each caller's reach, and the
answers to a bad period.

The due dates are set in the database before each dossier is resolved, so that its outcome is known
whatever the hour the test runs at (a birth registration is due the same working day)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, time, timedelta
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import update

from services.processing.models import Dossier as ProcessingDossier
from shared.events import utc_now
from shared.working_time import VN_TZ
from tests.conftest import eventually
from tests.system import System, citizen_headers, submission

Json = dict[str, Any]
ADMIN = System.auth("demo-admin")
LEADER = System.auth("000-00-06-h56-leader")
CIVIL_STATUS = System.auth("h56-hc-tuphap-officer")  # the second step's unit
HEALTH_DESK = System.auth("h56-syt-motcua-officer")  # another agency's desk
STEPS_BEFORE_APPROVAL = 3  # reception, civil status, signature; approval at the seal


async def act(system: System, code: str, action: str, body: Json | None = None) -> Json:
    response = await system.processing.post(
        f"/api/v1/dossiers/{code}/{action}", json=body or {}, headers=ADMIN
    )
    assert response.status_code == 200, (action, response.text)
    result: Json = response.json()
    return result


async def set_columns(system: System, code: str, **values: Any) -> None:
    async with system.runtime("processing").db.session() as session:
        await session.execute(
            update(ProcessingDossier).where(ProcessingDossier.code == code).values(**values)  # type: ignore[arg-type]
        )


async def accepted(system: System, *, channel: str = "online") -> str:
    code = str((await system.submit({**submission(), "channel": channel}))["code"])
    await system.registered(code)
    await act(system, code, "accept")
    return code


async def end_of_the_day_in_vietnam() -> datetime:
    """23:59:59 of today in Vietnam, at least a minute away: in a day's last minute, the next day's,
    once it has come (a dossier due then and resolved a moment later would be late)."""
    now = utc_now()
    end = datetime.combine(now.astimezone(VN_TZ).date(), time(23, 59, 59), tzinfo=VN_TZ)
    if end - now < timedelta(minutes=1):
        await asyncio.sleep((end - now).total_seconds() + 2)
        return await end_of_the_day_in_vietnam()
    return end


async def resolved(system: System, *, due_at: datetime | None = None) -> Json:
    """A dossier approved a moment after it was made due at ``due_at`` (by default, at the end of
    the day)."""
    code = await accepted(system)
    for _ in range(STEPS_BEFORE_APPROVAL):
        await act(system, code, "forward")
    await set_columns(system, code, due_at=due_at or await end_of_the_day_in_vietnam())
    return await act(system, code, "approve", {"result": {"name": "Giấy khai sinh"}})


async def report(system: System, route: str, headers: dict[str, str] = ADMIN, **params: str) -> Json:
    response = await system.processing.get(
        f"/api/v1/reports/{route}", params=_period(**params), headers=headers
    )
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _period(**params: str) -> dict[str, str]:
    # Yesterday to the day after tomorrow in Vietnam: every dossier of the test is received in it,
    # even one accepted a moment before midnight.
    today = utc_now().astimezone(VN_TZ).date()
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=2)).isoformat(),
        **params,
    }


@pytest.fixture
async def outcomes(system: System) -> dict[str, str]:
    """Six dossiers of birth registration with known places in the table."""
    now = utc_now()
    early = await resolved(system, due_at=now + timedelta(days=3))
    on_time = await resolved(system)
    late = await resolved(system, due_at=now - timedelta(hours=1))
    assert [item["timeliness"] for item in (early, on_time, late)] == ["early", "on_time", "late"]
    within_time = await accepted(system, channel="counter")
    overdue = await accepted(system)
    await set_columns(system, overdue, due_at=now - timedelta(hours=1))
    # Waiting for a supplement asked before its due date passed: the clock stopped in time.
    waiting = await accepted(system)
    await act(
        system, waiting, "request-supplement", {"reason": "Thiếu giấy tờ", "items": ["Giấy chứng sinh"]}
    )
    await set_columns(system, waiting, paused_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1))
    # Received and refused, and one not yet accepted: neither is in the reports.
    refused = str((await system.submit())["code"])
    await system.registered(refused)
    await act(system, refused, "refuse", {"reason": "Không thuộc thẩm quyền"})
    await system.registered(str((await system.submit())["code"]))
    return {"early": early["code"], "within_time": within_time, "overdue": overdue}


async def test_the_progress_table_counts_the_workflows_dossiers_in_their_columns(
    system: System, outcomes: dict[str, str]
) -> None:
    body = await report(system, "progress")
    total = body["total"]
    assert total["received"] == {"total": 6, "online": 5, "in_person_or_post": 1, "carried_over": 0}
    assert total["resolved"] == {"total": 3, "early": 1, "on_time": 1, "late": 1}
    assert total["in_progress"] == {"total": 3, "within_time": 2, "overdue": 1}
    assert total["on_time_rate"] == {"numerator": 4, "denominator": 6, "percent": 66.67}
    [agency] = body["rows"]
    assert (agency["key"], agency["name"]) == ("000.00.06.H56", "UBND phường Hải Châu")
    by_unit = await report(system, "progress", group="unit")
    received = {row["key"]: row["received"]["total"] for row in by_unit["rows"]}
    # Every dossier started at the desk; the three resolved ones passed through civil status.
    assert received["H56.HC.MOTCUA"] == 6 and received["H56.HC.TUPHAP"] == 3
    by_procedure = await report(system, "progress", group="procedure", lang="en")
    assert [row["name"] for row in by_procedure["rows"]] == ["Đăng ký khai sinh"]
    assert by_procedure["total"]["name"] == "Total"


async def test_the_indicators_show_numerator_and_denominator(
    system: System, outcomes: dict[str, str]
) -> None:
    # Approved with a PDF attached: the result is electronic.
    await set_columns(system, outcomes["early"], electronic_result=True)
    await act(system, outcomes["early"], "return-result")

    async def rate() -> None:
        # Intake takes a rating once it has heard that the result was handed over.
        response = await system.intake.post(
            f"/api/v1/dossiers/{outcomes['early']}/rating",
            json={"rating": "very_satisfied"},
            headers=citizen_headers(),
        )
        assert response.status_code == 201, response.text

    await eventually(rate)

    async def rated() -> dict[str, Json]:
        body = await report(system, "indicators")
        found = {item["code"]: item for item in body["groups"][0]["indicators"]}
        assert found["satisfaction"]["denominator"] == 1
        return found

    found = await eventually(rated)
    assert (found["2.1"]["numerator"], found["2.1"]["denominator"]) == (4, 6)
    assert (found["3.3"]["numerator"], found["3.3"]["denominator"], found["3.3"]["value"]) == (5, 6, 83.33)
    assert (found["2.2"]["denominator"], found["2.2"]["unit"]) == (3, "days")
    # One result of the three approved is a file; the documents were declared without files.
    assert (found["4.1"]["numerator"], found["4.1"]["denominator"]) == (1, 3)
    assert (found["4.2"]["numerator"], found["4.2"]["denominator"]) == (0, 6)
    assert found["satisfaction"]["value"] == 100.0


async def test_each_caller_sees_the_dossiers_their_scope_worked_on(
    system: System, outcomes: dict[str, str]
) -> None:
    assert (await report(system, "progress", LEADER))["total"]["received"]["total"] == 6
    civil = await report(system, "progress", CIVIL_STATUS, group="unit")
    assert civil["total"]["received"]["total"] == 3
    assert [row["key"] for row in civil["rows"]] == ["H56.HC.TUPHAP"]
    elsewhere = await report(system, "progress", HEALTH_DESK)
    assert (elsewhere["rows"], elsewhere["total"]["received"]["total"]) == ([], 0)
    nothing = await report(system, "indicators", HEALTH_DESK)
    assert all(item["value"] is None for item in nothing["groups"][0]["indicators"])


async def test_the_reports_download_as_csv_and_xlsx(system: System, outcomes: dict[str, str]) -> None:
    response = await system.processing.get(
        "/api/v1/reports/progress", params=_period(format="csv"), headers=ADMIN
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="bieu-II.06a_') and disposition.endswith('.csv"')
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0].startswith("Biểu II.06a")
    assert rows[2][2] == "Số hồ sơ nhận giải quyết: tổng số"
    assert rows[-1][1:14] == ["Tổng cộng", "6", "5", "1", "0", "3", "1", "1", "1", "3", "2", "1", "0"]

    response = await system.processing.get(
        "/api/v1/reports/indicators", params=_period(format="xlsx", lang="en"), headers=ADMIN
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="chi-so-766_' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["766"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[2][:3] == ["Scope", "Indicator", "Value"]
    online = next(row for row in values if row[1] == "3.3 Online share")
    assert (online[2], online[4], online[6]) == (83.33, 5, 6)


async def test_the_on_time_rate_by_week_and_the_ranking_as_json_and_svg(
    system: System, outcomes: dict[str, str]
) -> None:
    body = await report(system, "on-time")
    assert sum(week["on_time_rate"]["denominator"] for week in body["weeks"]) >= 6
    ranked = {item["key"]: item for item in body["ranking"]}
    assert ranked["H56.HC.MOTCUA"]["on_time_rate"]["denominator"] == 6
    assert [item["rank"] for item in body["ranking"]] == list(range(1, len(body["ranking"]) + 1))
    for drawing, title in (("weeks", "Tỷ lệ giải quyết đúng hạn theo tuần"), ("ranking", "Xếp hạng đơn vị")):
        response = await system.processing.get(
            "/api/v1/reports/on-time.svg", params=_period(chart=drawing), headers=ADMIN
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.text.startswith("<svg") and title in response.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-11-10", "to": "2026-11-10"}, "to", "to must be after from"),
        ({"from": "2024-01-01", "to": "2025-06-01"}, "to", "at most 366 days"),
        ({"from": "1999-12-31", "to": "2000-01-02"}, "from", "2000-01-01 or later"),
        ({"from": "2999-01-01"}, "from", "must not be after today"),
        ({"from": "01/11/2026"}, "from", "valid date"),
        ({"group": "officer"}, "group", "'agency', 'unit' or 'procedure'"),
        ({"format": "pdf"}, "format", "'json', 'csv' or 'xlsx'"),
    ],
)
async def test_a_bad_period_or_option_answers_422_naming_the_parameter(
    system: System, params: dict[str, str], field: str, message: str
) -> None:
    response = await system.processing.get("/api/v1/reports/progress", params=params, headers=ADMIN)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert message in error["msg"]


async def test_the_reports_need_a_member_of_staff(system: System) -> None:
    for route in ("progress", "indicators", "on-time", "on-time.svg"):
        response = await system.processing.get(f"/api/v1/reports/{route}")
        assert response.status_code == 401, route
        response = await system.processing.get(f"/api/v1/reports/{route}", headers=citizen_headers())
        assert response.status_code == 401, route
