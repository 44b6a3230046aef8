"""An admin keeps the directory, the working calendar and the procedure catalog, through processing's
admin API, and the rest of the system follows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from services.processing.app import create_app as create_processing
from shared.working_time import VN_TZ, WorkingCalendar
from tests.conftest import RuntimeSettingsFactory, eventually
from tests.system import System

ADMIN = "/api/v1/admin"


def admin() -> dict[str, str]:
    return System.auth("demo-admin")


async def created(system: System, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await system.processing.post(f"{ADMIN}{path}", json=body, headers=admin())
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def refused(system: System, method: str, path: str, body: Any, status: int, words: str) -> None:
    response = await system.processing.request(method, f"{ADMIN}{path}", json=body, headers=admin())
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"]), response.text


def draft_of(procedure: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A published version turned back into what an admin sends: without the computed fields."""
    computed = {"version", "total_hours", "calendar", "agency_name"}
    return {**{key: value for key, value in procedure.items() if key not in computed}, **changes}


async def current_procedure(system: System, code: str) -> dict[str, Any]:
    response = await system.processing.get(f"{ADMIN}/procedures", headers=admin())
    assert response.status_code == 200, response.text
    [procedure] = [item for item in response.json() if item["code"] == code]
    result: dict[str, Any] = procedure
    return result


async def test_admin_routes_need_an_admin_token(system: System) -> None:
    reads = ["/agencies", "/agencies/000.00.06.H56", "/units", "/people", "/calendar/2026", "/procedures"]
    for path in reads:
        assert (await system.processing.get(f"{ADMIN}{path}")).status_code == 401, path
        bad = await system.processing.get(f"{ADMIN}{path}", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401, path
        for user in ("demo-officer", "demo-manager", "demo-leader"):
            response = await system.processing.get(f"{ADMIN}{path}", headers=System.auth(user))
            assert response.status_code == 403, (path, user, response.text)
        assert (await system.processing.get(f"{ADMIN}{path}", headers=admin())).status_code == 200, path

    agency = {"code": "000.00.20.H56", "name": "Sở Tư pháp"}
    response = await system.processing.post(f"{ADMIN}/agencies", json=agency)
    assert response.status_code == 401
    response = await system.processing.post(
        f"{ADMIN}/agencies", json=agency, headers=System.auth("demo-officer")
    )
    assert response.status_code == 403
    assert "not an admin" in response.json()["detail"]
    put = await system.processing.put(f"{ADMIN}/calendar/2026", json=[], headers=System.auth("demo-leader"))
    assert put.status_code == 403
    agencies = await system.processing.get(f"{ADMIN}/agencies", headers=admin())
    assert "000.00.20.H56" not in {row["code"] for row in agencies.json()}


async def test_admin_adds_an_agency_with_a_unit_and_an_officer_who_can_then_sign_in(system: System) -> None:
    agency = await created(system, "/agencies", {"code": "000.00.20.H56", "name": "Sở Tư pháp"})
    assert agency == {"code": "000.00.20.H56", "name": "Sở Tư pháp"}
    await refused(system, "POST", "/agencies", {"code": "000.00.20.H56", "name": "Khác"}, 409, "already")
    await refused(system, "POST", "/agencies", {"code": "", "name": "Không mã"}, 422, "code")
    renamed = await system.processing.patch(
        f"{ADMIN}/agencies/000.00.20.H56", json={"name": "Sở Tư pháp tỉnh"}, headers=admin()
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sở Tư pháp tỉnh"
    await refused(system, "PATCH", "/agencies/000.00.99.H56", {"name": "X"}, 404, "000.00.99.H56")
    missing = await system.processing.get(f"{ADMIN}/agencies/000.00.99.H56", headers=admin())
    assert missing.status_code == 404

    unit = {"code": "H56.STP.MOTCUA", "agency_code": "000.00.20.H56", "name": "Quầy Sở Tư pháp"}
    assert (await created(system, "/units", {**unit, "receives_dossiers": True}))["receives_dossiers"]
    await refused(system, "POST", "/units", unit, 409, "already")
    await refused(system, "POST", "/units", {**unit, "code": "H56.X", "agency_code": "nope"}, 422, "nope")
    await created(
        system, "/units", {"code": "H56.STP.HCTP", "agency_code": "000.00.20.H56", "name": "Phòng HCTP"}
    )
    patched = await system.processing.patch(
        f"{ADMIN}/units/H56.STP.HCTP", json={"name": "Phòng Hành chính tư pháp"}, headers=admin()
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Phòng Hành chính tư pháp"
    await refused(system, "PATCH", "/units/H56.NOPE", {"name": "X"}, 404, "H56.NOPE")
    units = await system.processing.get(
        f"{ADMIN}/units", params={"agency_code": "000.00.20.H56"}, headers=admin()
    )
    assert [row["code"] for row in units.json()] == ["H56.STP.HCTP", "H56.STP.MOTCUA"]
    detail = await system.processing.get(f"{ADMIN}/agencies/000.00.20.H56", headers=admin())
    assert {row["code"] for row in detail.json()["units"]} == {"H56.STP.HCTP", "H56.STP.MOTCUA"}

    # The agency is taken from the unit when none is given.
    officer = await created(
        system,
        "/people",
        {
            "username": "stp-officer",
            "full_name": "Ngô Văn Giang",
            "role": "officer",
            "unit_code": "H56.STP.MOTCUA",
        },
    )
    assert officer["agency_code"] == "000.00.20.H56" and officer["active"] is True
    worklist = await system.processing.get("/api/v1/worklist", headers=System.auth("stp-officer"))
    assert worklist.status_code == 200 and worklist.json() == []

    person = {"username": "someone", "full_name": "Ai Đó"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**person, "role": "officer"}, 422, "unit_code is required"),
        ({**person, "role": "manager", "agency_code": "000.00.20.H56"}, 422, "unit_code is required"),
        ({**person, "role": "leader"}, 422, "agency_code is required"),
        ({**person, "role": "officer", "unit_code": "H56.NOPE"}, 422, "H56.NOPE"),
        ({**person, "role": "leader", "agency_code": "000.00.99.H56"}, 422, "000.00.99.H56"),
        (
            {**person, "role": "officer", "unit_code": "H56.STP.MOTCUA", "agency_code": "000.00.06.H56"},
            422,
            "belongs to agency 000.00.20.H56",
        ),
        ({**person, "role": "chief", "unit_code": "H56.STP.MOTCUA"}, 422, "role"),
        ({**person, "role": "officer", "unit_code": "H56.STP.MOTCUA", "email": "not-mail"}, 422, "email"),
        ({**person, "username": "stp-officer", "role": "admin"}, 409, "already"),
    ]
    for body, status, words in cases:
        await refused(system, "POST", "/people", body, status, words)
    await created(system, "/people", {**person, "role": "leader", "agency_code": "000.00.20.H56"})

    people = await system.processing.get(
        f"{ADMIN}/people", params={"agency_code": "000.00.20.H56"}, headers=admin()
    )
    assert [row["username"] for row in people.json()] == ["someone", "stp-officer"]
    leaders = await system.processing.get(
        f"{ADMIN}/people", params={"agency_code": "000.00.20.H56", "role": "leader"}, headers=admin()
    )
    assert [row["username"] for row in leaders.json()] == ["someone"]
    await refused(system, "GET", "/people?role=chief", None, 422, "role")


async def test_admin_moves_deactivates_and_promotes_people_within_the_rules(system: System) -> None:
    # A new unit of another agency moves the officer to that agency.
    moved = await system.processing.patch(
        f"{ADMIN}/people/h56-hc-kt-officer", json={"unit_code": "H56.SYT.BTXH"}, headers=admin()
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["agency_code"] == "000.00.12.H56"
    await refused(
        system,
        "PATCH",
        "/people/h56-hc-kt-officer",
        {"unit_code": "H56.HC.KT", "agency_code": "000.00.12.H56"},
        422,
        "belongs to agency",
    )
    await refused(system, "PATCH", "/people/h56-hc-kt-officer", {"unit_code": None}, 422, "unit_code")
    await refused(system, "PATCH", "/people/h56-hc-kt-officer", {"role": None}, 422, "role")
    await refused(system, "PATCH", "/people/nobody", {"active": False}, 404, "nobody")
    promoted = await system.processing.patch(
        f"{ADMIN}/people/h56-hc-kt-officer",
        json={"role": "leader", "unit_code": None, "full_name": "Đỗ Thị Hoa", "email": "hoa@syt.vn"},
        headers=admin(),
    )
    assert promoted.status_code == 200, promoted.text
    assert {key: promoted.json()[key] for key in ("role", "unit_code", "agency_code", "full_name")} == {
        "role": "leader",
        "unit_code": None,
        "agency_code": "000.00.12.H56",
        "full_name": "Đỗ Thị Hoa",
    }

    officer = System.auth("syt-officer")
    assert (await system.processing.get("/api/v1/worklist", headers=officer)).status_code == 200
    off = await system.processing.patch(
        f"{ADMIN}/people/syt-officer", json={"active": False}, headers=admin()
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await system.processing.get("/api/v1/worklist", headers=officer)).status_code == 401
    inactive = await system.processing.get(f"{ADMIN}/people", params={"active": False}, headers=admin())
    assert [row["username"] for row in inactive.json()] == ["syt-officer"]

    # Nobody can lock the admins out of their own API.
    await refused(system, "PATCH", "/people/demo-admin", {"active": False}, 409, "last active admin")
    await refused(
        system, "PATCH", "/people/demo-admin", {"role": "officer", "unit_code": "H56.HC.KT"}, 409, "last"
    )
    await created(system, "/people", {"username": "second-admin", "full_name": "Quản trị 2", "role": "admin"})
    retired = await system.processing.patch(
        f"{ADMIN}/people/demo-admin", json={"active": False}, headers=admin()
    )
    assert retired.status_code == 200, retired.text
    assert (await system.processing.get(f"{ADMIN}/people", headers=admin())).status_code == 401
    assert (
        await system.processing.get(f"{ADMIN}/people", headers=System.auth("second-admin"))
    ).status_code == 200


async def test_calendar_overrides_replace_a_year_beside_the_public_holidays(system: System) -> None:
    empty = await system.processing.get(f"{ADMIN}/calendar/2026", headers=admin())
    assert empty.status_code == 200
    body = empty.json()
    assert body["year"] == 2026 and body["overrides"] == []
    assert {"day": "2026-09-02", "name": "Quốc khánh"} in body["public_holidays"]
    assert "2026-08-22" in body["make_up_working_days"]

    days = [
        {"day": "2026-12-31", "working": False, "note": "Nghỉ bù theo thông báo của tỉnh"},
        {"day": "2026-01-03", "working": True, "note": "Làm bù"},
    ]
    put = await system.processing.put(f"{ADMIN}/calendar/2026", json=days, headers=admin())
    assert put.status_code == 200, put.text
    expected = sorted(days, key=lambda row: str(row["day"]))
    assert put.json()["overrides"] == expected
    got = await system.processing.get(f"{ADMIN}/calendar/2026", headers=admin())
    assert got.json()["overrides"] == expected
    other_year = [{"day": "2027-01-04", "working": False, "note": ""}]
    assert (
        await system.processing.put(f"{ADMIN}/calendar/2027", json=other_year, headers=admin())
    ).status_code == 200

    await refused(
        system, "PUT", "/calendar/2026", [*days, {"day": "2027-01-05", "working": False}], 422, "2027-01-05"
    )
    await refused(system, "PUT", "/calendar/2026", [*days, {**days[0], "working": True}], 422, "2026-12-31")
    await refused(system, "PUT", "/calendar/2026", [{"day": "2026-02-30", "working": False}], 422, "day")
    assert (await system.processing.get(f"{ADMIN}/calendar/2026", headers=admin())).json()[
        "overrides"
    ] == expected

    # A replacement replaces only its own year.
    again = await system.processing.put(f"{ADMIN}/calendar/2026", json=days[:1], headers=admin())
    assert again.json()["overrides"] == days[:1]
    assert (await system.processing.get(f"{ADMIN}/calendar/2027", headers=admin())).json()["overrides"] == [
        {**other_year[0]}
    ]
    await refused(system, "DELETE", "/calendar/2026/2027-01-04", None, 422, "not in 2026")
    deleted = await system.processing.delete(f"{ADMIN}/calendar/2026/2026-12-31", headers=admin())
    assert deleted.status_code == 204
    await refused(system, "DELETE", "/calendar/2026/2026-12-31", None, 404, "2026-12-31")
    assert (await system.processing.get(f"{ADMIN}/calendar/2026", headers=admin())).json()["overrides"] == []


async def test_a_new_day_off_moves_the_acceptance_deadline_of_new_dossiers(system: System) -> None:
    # The day the deadline would land on without overrides becomes a day off. Submission happens a
    # moment after ``now``; the day is taken for both ends of that moment, whatever the time of day.
    plain = WorkingCalendar()
    now = datetime.now(VN_TZ)
    days_off = {plain.deadline_after(now + timedelta(minutes=lag), 8).date() for lag in (0, 2)}
    # A dossier counted before the announcement: processing has read (and keeps) the overrides.
    earlier = await system.registered((await system.submit())["code"])
    earlier_at = datetime.fromisoformat(earlier["submitted_at"])
    assert datetime.fromisoformat(earlier["acceptance_due_at"]) == plain.deadline_after(earlier_at, 8)
    by_year: dict[int, list[date]] = defaultdict(list)
    for day in days_off:
        by_year[day.year].append(day)
    for year, days in by_year.items():
        body = [{"day": day.isoformat(), "working": False, "note": "Nghỉ đột xuất"} for day in days]
        response = await system.processing.put(f"{ADMIN}/calendar/{year}", json=body, headers=admin())
        assert response.status_code == 200, response.text

    dossier = await system.registered((await system.submit())["code"])
    submitted_at = datetime.fromisoformat(dossier["submitted_at"])
    assert submitted_at - now < timedelta(minutes=2)
    due = datetime.fromisoformat(dossier["acceptance_due_at"])
    assert due == WorkingCalendar(overrides=dict.fromkeys(days_off, False)).deadline_after(submitted_at, 8)
    assert due > plain.deadline_after(submitted_at, 8)


async def test_a_new_procedure_version_reaches_intake_and_old_dossiers_keep_theirs(system: System) -> None:
    before = await system.registered((await system.submit())["code"])
    assert before["procedure_version"] == 1
    [seed] = (await system.processing.get(f"{ADMIN}/procedures/1.001193/versions", headers=admin())).json()
    assert seed["version"] == 1 and seed["published_by"] == "seed"

    current = await current_procedure(system, "1.001193")
    steps = [
        {"name": "Tiếp nhận, kiểm tra hồ sơ", "unit_code": "H56.HC.MOTCUA", "hours": 1},
        {"name": "Thẩm tra, ghi sổ hộ tịch", "unit_code": "H56.HC.TUPHAP", "hours": 5},
        {"name": "Ký giấy khai sinh", "unit_code": "H56.HC.LD", "hours": 1},
        {"name": "Đóng dấu, vào sổ", "unit_code": "H56.HC.VT", "hours": 1},
        {"name": "Trả kết quả", "unit_code": "H56.HC.MOTCUA", "hours": 0, "counted": False},
    ]
    draft = draft_of(
        current,
        name="Đăng ký khai sinh (quy trình 2026)",
        time_limit={"value": 1, "unit": "working_day"},
        steps=steps,
        supplement_policy="restart",
    )
    published = await system.processing.post(f"{ADMIN}/procedures", json=draft, headers=admin())
    assert published.status_code == 201, published.text
    v2 = published.json()
    assert v2["version"] == 2 and v2["total_hours"] == 8 and v2["calendar"] == "working"
    assert v2["agency_name"] == "UBND phường Hải Châu" and v2["supplement_policy"] == "restart"

    # Sending the same draft again publishes nothing new.
    same = await system.processing.post(f"{ADMIN}/procedures", json=draft, headers=admin())
    assert same.status_code == 200 and same.json()["version"] == 2
    versions = (await system.processing.get(f"{ADMIN}/procedures/1.001193/versions", headers=admin())).json()
    assert [(row["version"], row["published_by"]) for row in versions] == [(1, "seed"), (2, "demo-admin")]
    assert versions[0]["procedure"]["name"] == "Đăng ký khai sinh"

    async def intake_has_v2() -> None:
        response = await system.intake.get("/api/v1/procedures/1.001193")
        assert response.json()["version"] == 2, response.text
        assert response.json()["name"] == "Đăng ký khai sinh (quy trình 2026)"

    await eventually(intake_has_v2)
    after = await system.registered((await system.submit())["code"])
    assert after["procedure_version"] == 2
    assert (await system.registered(before["code"]))["procedure_version"] == 1

    # A brand-new code starts at version 1 and is listed beside the others.
    listed = len((await system.intake.get("/api/v1/procedures")).json())
    new = {**draft_of(current, code="1.000001.TEST", name="Thủ tục thử"), "documents": []}
    response = await system.processing.post(f"{ADMIN}/procedures", json=new, headers=admin())
    assert response.status_code == 201 and response.json()["version"] == 1

    async def intake_lists_it() -> None:
        assert len((await system.intake.get("/api/v1/procedures")).json()) == listed + 1

    await eventually(intake_lists_it)
    officer = await system.processing.post(
        f"{ADMIN}/procedures", json=new, headers=System.auth("demo-officer")
    )
    assert officer.status_code == 403


async def test_procedure_drafts_that_break_the_rules_are_refused_with_a_reason(system: System) -> None:
    current = await current_procedure(system, "1.013814")
    steps: list[dict[str, Any]] = current["steps"]
    short = [steps[0], steps[1], {**steps[2], "hours": 8}, *steps[3:]]
    await refused(system, "POST", "/procedures", draft_of(current, steps=short), 422, "allot 36 h")
    await refused(system, "POST", "/procedures", draft_of(current, steps=short), 422, "is 40 h")
    unknown = [*steps[:6], {**steps[6], "unit_code": "H56.VPUB.NOPE"}, *steps[7:]]
    await refused(system, "POST", "/procedures", draft_of(current, steps=unknown), 422, "H56.VPUB.NOPE")
    await refused(
        system, "POST", "/procedures", draft_of(current, agency_code="000.00.99.H56"), 422, "000.00.99.H56"
    )
    not_a_desk = [steps[1], steps[0], *steps[2:]]
    await refused(system, "POST", "/procedures", draft_of(current, steps=not_a_desk), 422, "receiving unit")
    await refused(system, "POST", "/procedures", current, 422, "version")
    await refused(system, "POST", "/procedures", draft_of(current, steps=[]), 422, "steps")
    await refused(system, "POST", "/procedures", draft_of(current, stall_hours=0), 422, "stall_hours")
    twice = draft_of(current, documents=[current["documents"][0], current["documents"][0]])
    await refused(system, "POST", "/procedures", twice, 422, "more than once")

    versions = await system.processing.get(f"{ADMIN}/procedures/1.013814/versions", headers=admin())
    assert [row["version"] for row in versions.json()] == [1]
    missing = await system.processing.get(f"{ADMIN}/procedures/9.999999/versions", headers=admin())
    assert missing.status_code == 404


async def test_seed_runs_real_procedures_across_agencies_with_staff_at_every_step(system: System) -> None:
    procedures = (await system.processing.get(f"{ADMIN}/procedures", headers=admin())).json()
    real = [item for item in procedures if item["code"] != "DEMO-SLA"]
    assert len(real) >= 6
    assert len({item["agency_code"] for item in real}) >= 2
    units = {
        row["code"]: row for row in (await system.processing.get(f"{ADMIN}/units", headers=admin())).json()
    }

    def agencies_of(procedure: dict[str, Any]) -> set[str]:
        return {units[step["unit_code"]]["agency_code"] for step in procedure["steps"]}

    assert any(len(agencies_of(item)) >= 2 for item in real)
    assert any(item["total_hours"] <= 8 for item in real)
    assert any(item["supplement_policy"] == "restart" for item in real)
    officers = (
        await system.processing.get(
            f"{ADMIN}/people", params={"role": "officer", "active": True}, headers=admin()
        )
    ).json()
    staffed = {row["unit_code"] for row in officers}
    assert {step["unit_code"] for item in procedures for step in item["steps"]} <= staffed

    # The liên thông procedure reaches the citizen with its whole time limit.
    response = await system.intake.get("/api/v1/procedures/1.013814")
    assert response.status_code == 200
    assert response.json()["time_limit"] == {"value": 5, "unit": "working_day"}
    for user in ("h56-vpub-kgvx-officer", "h56-syt-btxh-manager", "000-00-01-h56-leader"):
        worklist = await system.processing.get("/api/v1/worklist", headers=System.auth(user))
        assert worklist.status_code == 200, (user, worklist.text)


async def test_seeding_again_keeps_what_the_admin_changed(
    system: System, runtime_settings: RuntimeSettingsFactory
) -> None:
    current = await current_procedure(system, "1.001806")
    published = await system.processing.post(
        f"{ADMIN}/procedures",
        json=draft_of(current, name="Công nhận doanh nghiệp (sửa đổi)"),
        headers=admin(),
    )
    assert published.status_code == 201, published.text
    renamed = await system.processing.patch(
        f"{ADMIN}/people/demo-officer", json={"full_name": "Trần Thị Bình An"}, headers=admin()
    )
    assert renamed.status_code == 200
    await system.processing.patch(
        f"{ADMIN}/people/h56-hc-ca-officer", json={"active": False}, headers=admin()
    )

    # A second processing on the same database seeds it again, as a restart or a new replica would.
    replica = create_processing(runtime_settings("processing"))
    async with replica.router.lifespan_context(replica):
        pass
    versions = (await system.processing.get(f"{ADMIN}/procedures/1.001806/versions", headers=admin())).json()
    assert [(row["version"], row["published_by"]) for row in versions] == [(1, "seed"), (2, "demo-admin")]
    for code in ("1.001193", "1.013814"):
        seeded = await system.processing.get(f"{ADMIN}/procedures/{code}/versions", headers=admin())
        assert [row["version"] for row in seeded.json()] == [1]
    people = {
        row["username"]: row
        for row in (await system.processing.get(f"{ADMIN}/people", headers=admin())).json()
    }
    assert people["demo-officer"]["full_name"] == "Trần Thị Bình An"
    assert people["h56-hc-ca-officer"]["active"] is False
