"""The whole life of a dossier through the HTTP APIs: every transition, who may make it, and what the
citizen sees. Seed usernames follow the directory's scheme: ``{unit code, dashed, lower}-officer``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.processing.models import Dossier as ProcessingDossier
from shared.events import DossierSupplementProvided, utc_now
from tests.conftest import eventually
from tests.system import System, citizen_headers, submission

Json = dict[str, Any]


def staff(unit_code: str, role: str = "officer") -> dict[str, str]:
    return System.auth(f"{unit_code.lower().replace('.', '-')}-{role}")


async def procedure(system: System, code: str) -> Json:
    found: Json = (await system.intake.get(f"/api/v1/procedures/{code}")).json()
    return found


async def submit_for(system: System, spec: Json) -> str:
    body = submission(spec["code"])
    body["documents"] = [{"name": document["name"], "kind": "digital"} for document in spec["documents"]]
    return str((await system.submit(body))["code"])


async def act(
    system: System,
    code: str,
    action: str,
    headers: dict[str, str],
    body: Json | None = None,
    expect: int = 200,
) -> Json:
    response = await system.processing.post(
        f"/api/v1/dossiers/{code}/{action}", json=body or {}, headers=headers
    )
    assert response.status_code == expect, (action, response.text)
    result: Json = response.json()
    return result


async def citizen_view(system: System, code: str, status: int, *, last_note: str | None = None) -> Json:
    """The citizen's view once it shows ``status`` (and, when given, a timeline ending in a note
    with ``last_note``: the events of one change reach intake through separate consumers, so the
    status may show before the row that tells why)."""

    async def check() -> Json:
        response = await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers())
        view: Json = response.json()
        assert view["status"] == status, view
        if last_note is not None:
            assert last_note in view["history"][-1]["note"], view["history"]
        return view

    return await eventually(check)


async def accepted(system: System, spec: Json) -> str:
    code = await submit_for(system, spec)
    await system.registered(code)
    await act(system, code, "accept", staff(spec["steps"][0]["unit_code"]))
    return code


async def forward_to(system: System, code: str, spec: Json, index: int) -> Json:
    """Forward from the current step until step ``index`` runs, each by an officer of its unit."""
    detail = await system.registered(code)
    current = detail["current_step_index"]
    body: Json = detail
    while current < index:
        body = await act(system, code, "forward", staff(spec["steps"][current]["unit_code"]))
        current += 1
    return body


async def test_each_seed_procedure_goes_from_submission_to_returned_result(system: System) -> None:
    catalog = (await system.intake.get("/api/v1/procedures")).json()
    for spec in catalog:
        steps = spec["steps"]
        last = len(steps) - 2
        code = await accepted(system, spec)
        await citizen_view(system, code, 2)
        # The unit of each later step claims it before acting, as an officer would.
        for index in range(1, last + 1):
            await forward_to(system, code, spec, index)
            await act(system, code, "claim", staff(steps[index]["unit_code"]))
        resolved = await act(
            system,
            code,
            "approve",
            staff(steps[last]["unit_code"]),
            {"result": {"name": f"Kết quả {spec['code']}"}},
        )
        assert resolved["status"] == 9 and resolved["timeliness"] in {"early", "on_time"}
        returned = await act(system, code, "return-result", staff(steps[-1]["unit_code"]))
        assert returned["status"] == 10

        # The hand-over may reach intake before the result: the copy ends the same either way.
        async def result_shown(code: str = code, name: str = f"Kết quả {spec['code']}") -> None:
            view = await citizen_view(system, code, 10)
            assert view["result_name"] == name, view

        await eventually(result_shown)
        detail = await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
        body = detail.json()
        assert [step["index"] for step in body["steps"]] == list(range(len(steps))), spec["code"]
        assert all(step["completed_at"] for step in body["steps"])
        assert {step["agency_code"] for step in body["steps"]} >= {spec["agency_code"]}


async def test_a_cross_agency_dossier_moves_into_the_other_agency_and_back(system: System) -> None:
    spec = await procedure(system, "1.013814")  # liên thông: Sở Y tế, then Văn phòng UBND tỉnh
    code = await accepted(system, spec)
    units = [step["unit_code"] for step in spec["steps"]]
    crossing = next(index for index, unit in enumerate(units) if unit.startswith("H56.VPUB."))
    body = await forward_to(system, code, spec, crossing)
    assert body["current_agency_code"] != spec["agency_code"]
    # The owning agency's desk no longer sees it; the other agency's unit does.
    desk = staff(spec["steps"][0]["unit_code"])
    assert (await system.processing.get(f"/api/v1/dossiers/{code}", headers=desk)).status_code == 403
    worklist = await system.processing.get(
        "/api/v1/worklist", headers=staff(spec["steps"][crossing]["unit_code"])
    )
    assert code in [row["code"] for row in worklist.json()]


async def test_refused_transitions_answer_409_saying_why_and_change_nothing(system: System) -> None:
    spec = await procedure(system, "1.004944")
    desk = staff("H56.HC.MOTCUA")
    head = staff("H56.HC.MOTCUA", "manager")
    code = await submit_for(system, spec)
    before = await system.registered(code)
    attempts: list[tuple[str, Json, dict[str, str]]] = [
        ("forward", {}, desk),
        ("claim", {}, desk),
        ("approve", {"result": {"name": "x"}}, desk),
        ("return-result", {}, desk),
        ("reschedule", {"reason": "x", "new_due_at": (utc_now() + timedelta(days=30)).isoformat()}, head),
        ("request-supplement", {"reason": "x", "items": ["y"]}, desk),
    ]
    for action, body, who in attempts:
        refused = await act(system, code, action, who, body, expect=409)
        assert "cannot" in refused["detail"], refused
    await act(system, code, "accept", desk)
    await act(system, code, "accept", desk, expect=409)
    approve_early = await act(system, code, "approve", desk, {"result": {"name": "x"}}, expect=409)
    assert "last processing step" in approve_early["detail"]
    detail = await system.registered(code)
    assert detail["revision"] == before["revision"] + 1
    assert [row["action"] for row in detail["history"]] == ["submitted", "accept"]


async def test_officers_act_only_in_their_unit_and_admin_actions_are_marked(system: System) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)
    other_unit = staff("H56.HC.VHXH")
    assert (await system.processing.get(f"/api/v1/dossiers/{code}", headers=other_unit)).status_code == 403
    await act(system, code, "forward", other_unit, expect=403)
    # The agency's leader sees it; a leader of another agency does not.
    assert (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-leader"))
    ).status_code == 200
    other_leader = System.auth("000-00-12-h56-leader")
    assert (await system.processing.get(f"/api/v1/dossiers/{code}", headers=other_leader)).status_code == 403
    # The unit's manager may act; an admin may act anywhere, and the history says it was an admin.
    await act(system, code, "forward", staff("H56.HC.MOTCUA", "manager"))
    await act(system, code, "forward", System.auth("demo-admin"))
    history = (
        await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
    ).json()["history"]
    assert [(row["action"], row["actor_role"]) for row in history][-2:] == [
        ("forward", "manager"),
        ("forward", "admin"),
    ]
    bad_token = {"Authorization": "Bearer x.y.z"}
    assert (
        await system.processing.post(f"/api/v1/dossiers/{code}/forward", headers=bad_token)
    ).status_code == 401


async def test_claimed_steps_and_stale_revisions_let_only_one_officer_win(system: System) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)
    detail = await forward_to(system, code, spec, 1)
    revision = detail["revision"]
    unit = "H56.HC.VHXH"
    first, second = await asyncio.gather(
        system.processing.post(
            f"/api/v1/dossiers/{code}/forward", json={"expected_revision": revision}, headers=staff(unit)
        ),
        system.processing.post(
            f"/api/v1/dossiers/{code}/forward",
            json={"expected_revision": revision},
            headers=staff(unit, "manager"),
        ),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    stale = await act(system, code, "forward", staff(unit), {"expected_revision": revision}, expect=409)
    assert "changed since you loaded it" in stale["detail"]
    if_match = await system.processing.post(
        f"/api/v1/dossiers/{code}/claim", headers={**staff(unit), "If-Match": str(revision)}
    )
    assert if_match.status_code == 409

    claimed = await act(system, code, "claim", staff(unit))
    assert claimed["revision"] > revision


async def test_a_repeated_action_that_moved_the_dossier_to_another_unit_answers_409_not_403(
    system: System,
) -> None:
    """An officer whose forward went through but whose answer was lost sends it again: the dossier is
    now another unit's, and what the officer must hear is that it changed meanwhile."""
    spec = await procedure(system, "1.001193")
    code = await accepted(system, spec)
    desk = staff(spec["steps"][0]["unit_code"])
    revision = (await system.registered(code))["revision"]
    await act(system, code, "forward", desk, {"expected_revision": revision})

    again = await act(system, code, "forward", desk, {"expected_revision": revision}, expect=409)

    assert "changed since you loaded it" in again["detail"]
    assert spec["steps"][1]["unit_code"] != spec["steps"][0]["unit_code"]
    await act(system, code, "forward", desk, expect=403)


async def test_an_officer_does_not_take_over_a_step_a_colleague_holds(system: System) -> None:
    spec = await procedure(system, "1.004944")
    code = await submit_for(system, spec)
    await system.registered(code)
    await act(system, code, "accept", System.auth("demo-officer"))  # reception is now demo-officer's
    colleague = staff("H56.HC.MOTCUA")
    held = await act(system, code, "forward", colleague, expect=409)
    assert "claimed by demo-officer" in held["detail"]
    await act(system, code, "claim", colleague, expect=409)
    await act(system, code, "claim", System.auth("demo-officer"), expect=409)  # already theirs
    # The unit's head may reassign the work.
    await act(system, code, "claim", staff("H56.HC.MOTCUA", "manager"))
    forwarded = await act(system, code, "forward", staff("H56.HC.MOTCUA", "manager"))
    assert forwarded["current_unit_code"] == "H56.HC.VHXH"


async def test_supplement_pauses_the_clock_and_the_due_dates_move_by_the_waiting_time(system: System) -> None:
    spec = await procedure(system, "DEMO-SLA")  # 24/7 calendar: waiting time is real time
    code = await accepted(system, spec)
    await forward_to(system, code, spec, 1)
    unit = spec["steps"][1]["unit_code"]
    deadline = (utc_now() + timedelta(days=2)).isoformat()
    waiting = await act(
        system,
        code,
        "request-supplement",
        staff(unit),
        {"reason": "Thiếu giấy tờ", "items": ["Bản sao giấy khai sinh"], "deadline_at": deadline},
    )
    assert waiting["status"] == 5
    view = await citizen_view(system, code, 5)
    assert view["supplement_items"] == ["Bản sao giấy khai sinh"]
    await act(system, code, "forward", staff(unit), expect=409)

    # The citizen takes 90 minutes: move the request back rather than wait.
    runtime = system.runtime("processing")
    async with runtime.db.session() as session:
        await session.execute(
            update(ProcessingDossier)
            .where(ProcessingDossier.code == code)  # type: ignore[arg-type]
            .values(paused_at=utc_now() - timedelta(minutes=90))
        )
    before = (await system.processing.get(f"/api/v1/dossiers/{code}", headers=staff(unit))).json()
    old_due = datetime.fromisoformat(before["due_at"])
    old_step_due = datetime.fromisoformat(before["steps"][1]["due_at"])
    await system.publish(
        "intake", DossierSupplementProvided(dossier_code=code, documents=[], provided_at=utc_now())
    )

    resumed = await citizen_view(system, code, 4)
    assert resumed["supplement_items"] is None
    after = (await system.processing.get(f"/api/v1/dossiers/{code}", headers=staff(unit))).json()
    assert datetime.fromisoformat(after["due_at"]) - old_due == timedelta(minutes=90)
    assert datetime.fromisoformat(after["steps"][1]["due_at"]) - old_step_due == timedelta(minutes=90)
    assert after["steps"][1]["used_hours"] < 0.5
    assert any(row["action"] == "supplement-provided" for row in after["history"])


async def test_a_supplement_never_sent_lets_the_dossier_be_refused_after_its_deadline(system: System) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)
    desk = staff("H56.HC.MOTCUA")
    await act(system, code, "request-supplement", desk, {"reason": "Thiếu tờ khai", "items": ["Tờ khai"]})
    early = await act(system, code, "refuse", desk, {"reason": "Quá hạn bổ sung"}, expect=409)
    assert "after its deadline" in early["detail"]
    async with system.runtime("processing").db.session() as session:
        await session.execute(
            update(ProcessingDossier)
            .where(ProcessingDossier.code == code)  # type: ignore[arg-type]
            .values(supplement_deadline_at=utc_now() - timedelta(minutes=1))
        )
    refused = await act(system, code, "refuse", desk, {"reason": "Quá hạn bổ sung"})
    assert refused["status"] == 3
    await citizen_view(system, code, 3)


async def test_apology_letter_moves_the_appointment_once_and_the_dossier_counts_as_late(
    system: System,
) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)
    desk = staff("H56.HC.MOTCUA", "manager")
    due = datetime.fromisoformat((await system.registered(code))["due_at"])
    new_due = due + timedelta(days=7)
    while new_due.weekday() >= 5:
        new_due += timedelta(days=1)
    moved = await act(
        system, code, "reschedule", desk, {"reason": "Chờ xác minh", "new_due_at": new_due.isoformat()}
    )
    assert datetime.fromisoformat(moved["due_at"]) == new_due and moved["rescheduled"]
    again = await act(
        system,
        code,
        "reschedule",
        desk,
        {"reason": "x", "new_due_at": (new_due + timedelta(days=7)).isoformat()},
        expect=409,
    )
    assert "once" in again["detail"]
    view = await eventually(lambda: _due_shown(system, code, new_due))
    assert "Thư xin lỗi" in view["history"][-1]["note"]

    await forward_to(system, code, spec, len(spec["steps"]) - 2)
    resolved = await act(
        system, code, "approve", staff(spec["steps"][-2]["unit_code"]), {"result": {"name": "Quyết định"}}
    )
    assert resolved["timeliness"] == "late"


async def test_an_officer_may_not_pause_a_colleagues_step_nor_anyone_but_a_head_move_the_due_date(
    system: System,
) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)  # the step is the accepting officer's
    colleague = System.auth("demo-officer")
    head = staff("H56.HC.MOTCUA", "manager")
    before = await system.registered(code)
    supplement = {"reason": "Thiếu tờ khai", "items": ["Tờ khai"]}
    paused = await act(system, code, "request-supplement", colleague, supplement, expect=409)
    assert paused["detail"] == "the current step is claimed by h56-hc-motcua-officer"
    new_due = (datetime.fromisoformat(before["due_at"]) + timedelta(days=7)).isoformat()
    apology = {"reason": "Chờ xác minh", "new_due_at": new_due}
    for who in (colleague, staff("H56.HC.MOTCUA"), System.auth("demo-admin")):
        refused = await act(system, code, "reschedule", who, apology, expect=403)
        assert "a manager or a leader" in refused["detail"]
    far = (utc_now() + timedelta(days=366)).isoformat()
    too_far = await act(system, code, "reschedule", head, {**apology, "new_due_at": far}, expect=422)
    assert "within 365 days" in too_far["detail"]
    years = await act(
        system,
        code,
        "request-supplement",
        staff("H56.HC.MOTCUA"),
        {**supplement, "deadline_at": "9999-12-31T00:00:00Z"},
        expect=422,
    )
    assert "within 365 days" in years["detail"]
    assert (await system.registered(code))["revision"] == before["revision"]


async def _due_shown(system: System, code: str, due: datetime) -> Json:
    response = await system.intake.get(f"/api/v1/dossiers/{code}", headers=citizen_headers())
    view: Json = response.json()
    assert view["due_at"] is not None and datetime.fromisoformat(view["due_at"]) == due, view
    return view


async def test_rejection_needs_a_reason_and_the_rejection_letter_is_returned(system: System) -> None:
    spec = await procedure(system, "1.004944")
    code = await accepted(system, spec)
    await forward_to(system, code, spec, 2)
    unit = staff(spec["steps"][2]["unit_code"])
    missing = await system.processing.post(
        f"/api/v1/dossiers/{code}/reject", json={"reason": ""}, headers=unit
    )
    assert missing.status_code == 422
    rejected = await act(system, code, "reject", unit, {"reason": "Không đủ điều kiện"})
    assert rejected["status"] == 9 and rejected["outcome"] == "rejected"
    await citizen_view(system, code, 9, last_note="Không đủ điều kiện")
    await act(system, code, "return-result", staff(spec["steps"][-1]["unit_code"]))
    await citizen_view(system, code, 10)


@pytest.mark.parametrize("stage", ["new", "resolved"])
async def test_withdrawal_stops_an_open_dossier_but_not_a_resolved_one(system: System, stage: str) -> None:
    from shared.events import DossierWithdrawalRequested

    spec = await procedure(system, "1.001193")
    code = await accepted(system, spec)
    if stage == "resolved":
        await forward_to(system, code, spec, len(spec["steps"]) - 2)
        await act(
            system,
            code,
            "approve",
            staff(spec["steps"][-2]["unit_code"]),
            {"result": {"name": "Giấy khai sinh"}},
        )
    await system.publish(
        "intake",
        DossierWithdrawalRequested(dossier_code=code, reason="Không còn nhu cầu", requested_at=utc_now()),
    )
    if stage == "new":
        await citizen_view(system, code, 7)
        detail = await system.registered(code)
        assert detail["withdrawn_at"] and detail["current_step_index"] is None
    else:
        await asyncio.sleep(1.0)
        assert (await system.registered(code))["status"] == 9


async def test_worklist_filters_by_status_step_assignee_and_deadline_and_pages(system: System) -> None:
    spec = await procedure(system, "1.004944")
    desk = System.auth("demo-officer")
    codes = [await submit_for(system, spec) for _ in range(3)]
    for code in codes:
        await system.registered(code)
    await act(system, codes[0], "accept", desk)

    async def listed(**params: Any) -> list[str]:
        response = await system.processing.get("/api/v1/worklist", params=params, headers=desk)
        assert response.status_code == 200, response.text
        return [row["code"] for row in response.json()]

    assert sorted(await listed()) == sorted(codes)
    assert await listed(status=2) == [codes[0]]
    assert sorted(await listed(status=1)) == sorted(codes[1:])
    assert await listed(assignee="me") == [codes[0]]
    assert await listed(step="Tiếp nhận hồ sơ") == [codes[0]]
    assert await listed(overdue="true") == []
    assert len(await listed(limit=2)) == 2
    assert len(await listed(limit=2, offset=2)) == 1
    # Soonest deadline first: the three new ones are due for acceptance before the accepted one is due.
    assert (await listed())[-1] == codes[0]
    async with system.runtime("processing").db.session() as session:
        await session.execute(
            update(ProcessingDossier)
            .where(ProcessingDossier.code == codes[1])  # type: ignore[arg-type]
            .values(acceptance_due_at=utc_now() - timedelta(minutes=5))
        )
    assert await listed(overdue="true") == [codes[1]]
    assert codes[1] in await listed(near_due="true")
    bad = await system.processing.get("/api/v1/worklist", params={"status": 11}, headers=desk)
    assert bad.status_code == 422


async def test_citizen_supplement_withdrawal_and_rating_travel_through_intake_to_processing(
    system: System,
) -> None:
    """The citizen's side through intake's HTTP API only; processing reacts to each."""
    spec = await procedure(system, "1.004944")
    desk = staff("H56.HC.MOTCUA")

    # Supplement: asked by processing, sent through intake, and the dossier resumes.
    code = await accepted(system, spec)
    await act(
        system, code, "request-supplement", desk, {"reason": "Thiếu giấy tờ", "items": ["Giấy xác nhận"]}
    )
    await citizen_view(system, code, 5)
    sent = await system.intake.post(
        f"/api/v1/dossiers/{code}/supplements",
        json={"note": "Gửi bổ sung", "documents": [{"name": "Giấy xác nhận", "kind": "scan"}]},
        headers=citizen_headers(),
    )
    assert sent.status_code == 202, sent.text
    await citizen_view(system, code, 4)  # processing resumes, even when asked at reception
    detail = await system.registered(code)
    assert detail["documents"][-1]["name"] == "Giấy xác nhận"

    # Rating, once the result is returned.
    for index in range(1, len(spec["steps"]) - 1):
        await forward_to(system, code, spec, index)
    await act(
        system, code, "approve", staff(spec["steps"][-2]["unit_code"]), {"result": {"name": "Quyết định"}}
    )
    await act(system, code, "return-result", staff(spec["steps"][-1]["unit_code"]))
    await citizen_view(system, code, 10)
    rated = await system.intake.post(
        f"/api/v1/dossiers/{code}/rating",
        json={"rating": "dissatisfied", "reason": "Chờ lâu"},
        headers=citizen_headers(),
    )
    assert rated.status_code == 201, rated.text

    async def rating_reached_processing() -> None:
        assert (await system.registered(code))["rating"] == "dissatisfied"

    await eventually(rating_reached_processing)

    # Withdrawal of another dossier before it is resolved.
    other = await accepted(system, spec)
    withdrawn = await system.intake.post(
        f"/api/v1/dossiers/{other}/withdrawal", json={"reason": "Đổi ý"}, headers=citizen_headers()
    )
    assert withdrawn.status_code == 202, withdrawn.text
    await citizen_view(system, other, 7)
    assert (await system.registered(other))["status"] == 7
