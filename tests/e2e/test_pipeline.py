"""The first path through all three services: a citizen submits, processing registers, an officer
accepts or refuses, notify writes the citizen's receipt, intake shows the new status."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from services.intake.models import Dossier as IntakeDossier
from shared.events import DossierStatus
from shared.working_time import VN_TZ, WorkingCalendar
from tests.conftest import eventually
from tests.system import APPLICANT, System, citizen_headers, submission

CODE = re.compile(r"^000\.00\.06\.H56-\d{6}-\d{4}$")


async def notifications_for(system: System, recipient: str, count: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        rows = await system.notifications(citizen_headers(recipient), channel="inbox")
        assert len(rows) >= count
        return rows

    return await eventually(check)


async def test_submitted_dossier_is_accepted_and_the_citizen_gets_a_receipt(system: System) -> None:
    procedure = (await system.intake.get("/api/v1/procedures/1.001193")).json()
    assert procedure["name"] == "Đăng ký khai sinh"
    assert {"name": "Tờ khai đăng ký khai sinh", "required": True}.items() <= procedure["documents"][
        0
    ].items()

    created = await system.submit()
    code = created["code"]
    assert CODE.match(code), code
    assert created["status"] == 1 and created["status_name"] == "receiving"
    today = datetime.now(VN_TZ).strftime("%y%m%d")
    assert code.split("-")[1] == today

    registered = await system.registered(code)
    assert registered["status"] == DossierStatus.RECEIVING
    submitted_at = datetime.fromisoformat(registered["submitted_at"])
    acceptance_due = datetime.fromisoformat(registered["acceptance_due_at"])
    assert acceptance_due == WorkingCalendar().deadline_after(submitted_at, 8)

    worklist = await system.processing.get("/api/v1/worklist", headers=system.auth("demo-officer"))
    assert [row["code"] for row in worklist.json()] == [code]

    accepted = await system.processing.post(
        f"/api/v1/dossiers/{code}/accept", json={"note": "Hồ sơ đầy đủ"}, headers=system.auth("demo-officer")
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == 2 and body["status_name"] == "new"
    due_at = datetime.fromisoformat(body["due_at"])
    assert due_at == WorkingCalendar().deadline_after(datetime.fromisoformat(body["decided_at"]), 4)

    async def intake_shows_acceptance() -> dict[str, Any]:
        response = await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers())
        view: dict[str, Any] = response.json()
        assert view["status"] == 2, view
        return view

    view = await eventually(intake_shows_acceptance)
    assert view["status_name"] == "new"
    assert datetime.fromisoformat(view["due_at"]) == due_at

    [receipt] = await notifications_for(system, APPLICANT["id_number"])
    assert receipt["event_type"] == "dossier.accepted"
    assert receipt["dossier_code"] == code
    assert receipt["channel"] == "inbox"
    assert code in receipt["body"] and "Đăng ký khai sinh" in receipt["body"]
    assert due_at.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y") in receipt["body"]

    detail = await system.processing.get(f"/api/v1/dossiers/{code}", headers=system.auth("demo-officer"))
    assert [row["action"] for row in detail.json()["history"]] == ["submitted", "accept"]


async def test_refused_dossier_tells_the_citizen_why(system: System) -> None:
    code = (await system.submit())["code"]
    await system.registered(code)
    refused = await system.processing.post(
        f"/api/v1/dossiers/{code}/refuse",
        json={"reason": "Thủ tục không thuộc thẩm quyền của phường"},
        headers=system.auth("demo-manager"),
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == 3

    async def intake_shows_refusal() -> None:
        response = await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers())
        assert response.json()["status"] == 3

    await eventually(intake_shows_refusal)
    [notice] = await notifications_for(system, APPLICANT["id_number"])
    assert notice["event_type"] == "dossier.refused"
    assert "Thủ tục không thuộc thẩm quyền của phường" in notice["body"]


async def test_status_lookup_with_a_wrong_id_number_reveals_nothing(system: System) -> None:
    code = (await system.submit())["code"]
    wrong = await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers("001099000001"))
    unknown = await system.intake.get(
        "/api/v1/dossiers/000.00.06.H56-000101-0001", headers=citizen_headers("001099000001")
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert APPLICANT["full_name"] not in wrong.text


async def test_resending_an_idempotency_key_returns_the_same_dossier(system: System) -> None:
    first = await system.intake.post(
        "/api/v1/dossiers", json=submission(), headers={"Idempotency-Key": "k-1"}
    )
    again = await system.intake.post(
        "/api/v1/dossiers", json=submission(), headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["code"] == again.json()["code"]
    other = await system.intake.post(
        "/api/v1/dossiers", json=submission(full_name="Trần Thị Bé"), headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]

    racing = await asyncio.gather(
        *(
            system.intake.post("/api/v1/dossiers", json=submission(), headers={"Idempotency-Key": "k-2"})
            for _ in range(5)
        )
    )
    assert {response.status_code for response in racing} <= {200, 201}
    assert len({response.json()["code"] for response in racing}) == 1

    await system.registered(first.json()["code"])
    await system.registered(racing[0].json()["code"])
    async with system.runtime("intake").db.session() as session:
        assert (await session.execute(select(func.count()).select_from(IntakeDossier))).scalar_one() == 2
    worklist = await system.processing.get("/api/v1/worklist", headers=system.auth("demo-officer"))
    assert len(worklist.json()) == 2


async def _nothing_stored(system: System) -> None:
    runtime = system.runtime("intake")
    async with runtime.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(IntakeDossier))).scalar_one() == 0
        assert await runtime.outbox.pending_count(session) == 0
        sent = await session.execute(
            select(func.count())
            .select_from(runtime.outbox.table)
            .where(runtime.outbox.table.c.subject == "dossier.submitted")
        )
        assert sent.scalar_one() == 0


async def test_bad_input_gets_422_naming_the_field_and_stores_nothing(system: System) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (submission(id_number="04909000123"), "id_number", "12 digits"),
        (submission(id_number="04909000123X"), "id_number", "12 digits"),
        (submission(id_number="003090001234"), "id_number", "province"),
        (submission(id_number="049490001234"), "id_number", "future"),
        (submission(phone="12345"), "phone", ""),
        (submission(email="not-an-email"), "email", "email"),
        (submission(email="an@example.vn, binh@example.vn"), "email", "one email address"),
        (submission(email="an@example.vn;binh@example.vn"), "email", "one email address"),
        (submission(email="Nguyễn Văn An <an@example.vn>"), "email", "without a name"),
        (submission(email="an@example.vn binh@example.vn"), "email", "without a name or spaces"),
        (submission(email="an@binh@example.vn"), "email", "exactly one @"),
        (submission(procedure_code="9.999999"), "procedure_code", "unknown procedure"),
        ({**submission(), "documents": []}, "documents", "Tờ khai đăng ký khai sinh"),
    ]
    missing_name = submission()
    del missing_name["applicant"]["full_name"]
    cases.append((missing_name, "full_name", ""))
    missing_procedure = submission()
    del missing_procedure["procedure_code"]
    cases.append((missing_procedure, "procedure_code", ""))

    for body, field, words in cases:
        response = await system.intake.post("/api/v1/dossiers", json=body)
        assert response.status_code == 422, (field, response.text)
        errors = response.json()["detail"]
        assert any(field in error["loc"] for error in errors), (field, errors)
        assert any(words in error["msg"] for error in errors), (words, errors)

    not_json = await system.intake.post(
        "/api/v1/dossiers", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    await asyncio.sleep(0.5)
    await _nothing_stored(system)


async def test_officer_actions_need_a_valid_token_and_the_right_unit(system: System) -> None:
    code = (await system.submit())["code"]
    await system.registered(code)
    url = f"/api/v1/dossiers/{code}/accept"

    assert (await system.processing.post(url)).status_code == 401
    assert (
        await system.processing.post(url, headers={"Authorization": "Bearer nonsense"})
    ).status_code == 401
    other_agency = await system.processing.post(url, headers=system.auth("syt-officer"))
    assert other_agency.status_code == 403, other_agency.text
    unknown_user = await system.processing.post(url, headers=system.auth("nobody"))
    assert unknown_user.status_code == 401
    no_reason = await system.processing.post(
        f"/api/v1/dossiers/{code}/refuse", json={"reason": ""}, headers=system.auth("demo-officer")
    )
    assert no_reason.status_code == 422
    missing = await system.processing.post(
        "/api/v1/dossiers/000.00.06.H56-000101-0001/accept", headers=system.auth("demo-officer")
    )
    assert missing.status_code == 404
    assert (await system.registered(code))["status"] == 1

    first, second = await asyncio.gather(
        system.processing.post(url, headers=system.auth("demo-officer")),
        system.processing.post(url, headers=system.auth("demo-manager")),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert "cannot accept a dossier that is new" in loser.json()["detail"]
    detail = await system.registered(code)
    assert [row["action"] for row in detail["history"]] == ["submitted", "accept"]


async def test_dossier_codes_are_unique_and_sequential_under_concurrent_submissions(system: System) -> None:
    responses = await asyncio.gather(
        *(system.intake.post("/api/v1/dossiers", json=submission()) for _ in range(25))
    )
    codes = sorted(response.json()["code"] for response in responses)
    assert len(set(codes)) == 25
    assert [int(code.rsplit("-", 1)[1]) for code in codes] == list(range(1, 26))


async def test_nats_outage_loses_no_submission_and_delivers_each_once(
    system: System, nats_server: Any
) -> None:
    nats_server.stop()
    codes = [(await system.submit())["code"] for _ in range(10)]
    assert len(set(codes)) == 10
    await asyncio.sleep(1.0)
    nats_server.start()

    async def all_registered() -> None:
        response = await system.processing.get(
            "/api/v1/worklist", params={"limit": 100}, headers=system.auth("demo-officer")
        )
        assert sorted(row["code"] for row in response.json()) == sorted(codes)

    await eventually(all_registered, timeout=30)
    runtime = system.runtime("processing")
    async with runtime.db.session() as session:
        handled = await session.execute(
            select(func.count())
            .select_from(runtime.inbox.table)
            .where(runtime.inbox.table.c.consumer == "processing__dossier_submitted")
        )
        assert handled.scalar_one() == 10
    async with system.runtime("intake").db.session() as session:
        assert await system.runtime("intake").outbox.pending_count(session) == 0


async def test_one_trace_follows_the_dossier_through_every_service(system: System) -> None:
    code = (await system.submit())["code"]
    await system.registered(code)
    accepted = await system.processing.post(
        f"/api/v1/dossiers/{code}/accept", headers=system.auth("demo-officer")
    )
    assert accepted.status_code == 200
    await notifications_for(system, APPLICANT["id_number"])

    def services_in_trace(trace_id: int) -> set[str]:
        return {
            str(span.resource.attributes["service.name"])
            for span in system.spans.get_finished_spans()
            if span.context is not None and span.context.trace_id == trace_id
        }

    def trace_of_request(service: str, method: str, path_part: str) -> int:
        for span in system.spans.get_finished_spans():
            attributes = span.attributes or {}
            target = str(attributes.get("http.target", attributes.get("url.path", "")))
            if (
                span.resource.attributes["service.name"] == f"motcua-{service}"
                and span.kind.name == "SERVER"
                and method in span.name
                and path_part in (target or span.name)
                and span.context is not None
            ):
                return span.context.trace_id
        raise AssertionError(f"no {method} span for {path_part} in {service}")

    async def submission_trace_reaches_processing() -> None:
        trace_id = trace_of_request("intake", "POST", "/api/v1/dossiers")
        assert {"motcua-intake", "motcua-processing"} <= services_in_trace(trace_id)

    async def acceptance_trace_reaches_intake_and_notify() -> None:
        trace_id = trace_of_request("processing", "POST", "/accept")
        assert {"motcua-processing", "motcua-intake", "motcua-notify"} <= services_in_trace(trace_id)

    await eventually(submission_trace_reaches_processing)
    await eventually(acceptance_trace_reaches_intake_and_notify)
