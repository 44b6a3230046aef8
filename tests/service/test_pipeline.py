"""The first path through the three services on the in-process bus: a refusal reaches the citizen,
a lookup with the wrong CCCD reveals nothing, an Idempotency-Key gives back the same dossier, bad
input is refused naming its field, officers act only with a valid token in their unit, and codes
stay unique under concurrent submissions."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from services.intake.models import Dossier as IntakeDossier
from tests.conftest import eventually
from tests.system import APPLICANT, System, citizen_headers, notifications_for, submission


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
    not_text = await system.intake.post(
        "/api/v1/dossiers",
        content=b"\xd9\x0e\xf8O\x9a_\xf8\x90",
        headers={"content-type": "application/json"},
    )
    assert not_text.status_code == 422, not_text.text
    assert not_text.json()["detail"][0]["loc"] == ["body"]
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
