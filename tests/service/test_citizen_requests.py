"""Nothing a citizen sends is dropped in silence: intake refuses what it knows is too late, and what
processing cannot act on comes back as ``dossier.request.declined``, shown in the citizen's timeline
and sent to their inbox. Through the HTTP APIs of the whole running system."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import select

from services.notify.models import Notification
from shared.events import Applicant, DossierStatus, DossierSubmitted, utc_now
from tests.conftest import eventually
from tests.service.test_intake_citizen import set_status
from tests.service.test_workflow import accepted, act, citizen_view, forward_to, procedure, staff
from tests.system import APPLICANT, System, citizen_headers

RESUMED = "Đã nhận hồ sơ bổ sung, tiếp tục giải quyết"


async def test_two_supplements_at_once_one_is_taken_the_other_refused_and_processing_resumes_once(
    system: System,
) -> None:
    spec = await procedure(system, "1.001193")
    code = await accepted(system, spec)
    desk = staff(spec["steps"][0]["unit_code"])
    await act(
        system, code, "request-supplement", desk, {"reason": "Thiếu giấy tờ", "items": ["Giấy chứng sinh"]}
    )
    await citizen_view(system, code, 5)

    url = f"/api/v1/dossiers/{code}/supplements"
    bodies = [
        {
            "note": f"Bản gửi lần {number}",
            "documents": [{"name": "Giấy chứng sinh", "kind": "scan"}],
        }
        for number in (1, 2)
    ]
    responses = await asyncio.gather(
        *(system.intake.post(url, json=body, headers=citizen_headers()) for body in bodies)
    )
    assert sorted(response.status_code for response in responses) == [202, 409], [r.text for r in responses]
    [refused] = [response for response in responses if response.status_code == 409]
    assert "already sent" in refused.json()["detail"]

    # The supplement resumes processing (status 4), once.
    view = await citizen_view(system, code, 4)
    notes = [row["note"] for row in view["history"]]
    assert notes.count(RESUMED) == 1
    assert [row["event_type"] for row in view["history"]].count("dossier.supplement.provided") == 1
    detail = await system.registered(code)
    assert [row["action"] for row in detail["history"]].count("supplement-provided") == 1

    late = await system.intake.post(url, json=bodies[1], headers=citizen_headers())
    assert late.status_code == 409
    assert "only while one is requested" in late.json()["detail"]


async def test_a_withdrawal_after_the_result_is_declined_in_the_timeline_and_the_status_is_the_results(
    system: System,
) -> None:
    spec = await procedure(system, "1.001193")
    steps = spec["steps"]
    code = await accepted(system, spec)
    await forward_to(system, code, spec, len(steps) - 2)
    await act(system, code, "approve", staff(steps[-2]["unit_code"]), {"result": {"name": "Giấy khai sinh"}})
    await act(system, code, "return-result", staff(steps[-1]["unit_code"]))

    async def result_shown() -> None:
        assert (await citizen_view(system, code, 10))["result_name"] == "Giấy khai sinh"

    await eventually(result_shown)
    # The citizen's copy lags behind processing, as under load: it still shows the dossier in process
    # when the citizen asks to withdraw it.
    await set_status(system, code, DossierStatus.PROCESSING, status_revision=3)
    asked = await system.intake.post(
        f"/api/v1/dossiers/{code}/withdrawal", json={}, headers=citizen_headers()
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["withdrawal_requested_at"] is not None

    async def declined() -> dict[str, Any]:
        view = await citizen_view(system, code, 10)
        assert view["history"][-1]["event_type"] == "dossier.request.declined", view["history"]
        return view

    view = await eventually(declined)
    assert view["withdrawal_requested_at"] is None
    assert view["result_name"] == "Giấy khai sinh"
    last = view["history"][-1]
    assert last["status"] == 10 and "kết quả giải quyết được giữ nguyên" in last["note"]
    assert (await system.registered(code))["status"] == 10

    async def citizen_told() -> Notification:
        async with system.runtime("notify").db.reading() as session:
            rows = (
                await session.exec(
                    select(Notification).where(
                        Notification.event_type == "dossier.request.declined",
                        Notification.recipient == APPLICANT["id_number"],
                    )
                )
            ).all()
        assert len(rows) == 1
        return rows[0]

    told = await eventually(citizen_told)
    assert "không được chấp nhận" in told.subject and code in told.subject
    assert "Đã trả kết quả" in told.body


async def test_a_dossier_submitted_again_under_a_new_event_is_registered_once(system: System) -> None:
    """The inbox drops a redelivered event; a second event for a registered dossier (published
    again under an id of its own) finds the dossier there and changes nothing."""
    code = (await system.submit())["code"]
    before = await system.registered(code)
    runtime = system.apps["processing"].state.runtime
    again = DossierSubmitted(
        dossier_code=code,
        procedure_code=before["procedure_code"],
        procedure_version=before["procedure_version"],
        agency_code=before["agency_code"],
        applicant=Applicant(full_name="Người khác", id_number="001090000001"),
        documents=[],
        channel="online",
        submitted_at=utc_now(),
    )
    await runtime.deliver(again)
    after = await system.registered(code)
    kept = ("revision", "status", "acceptance_due_at", "applicant", "history")
    assert {key: after[key] for key in kept} == {key: before[key] for key in kept}
    assert [row["action"] for row in after["history"]] == ["submitted"]
