"""The audit trail as an officer reads it: every action, made through the HTTP APIs (the officers'
through processing, the citizen's through intake), leaves one history row whose ``from_status`` is
where the dossier was and whose ``to_status`` is where the action left it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from services.processing.models import Dossier as ProcessingDossier
from shared.events import utc_now
from tests.conftest import eventually
from tests.service.test_workflow import accepted, act, citizen_view, procedure, staff, submit_for
from tests.system import System, citizen_headers

Json = dict[str, Any]
Row = tuple[str, int | None, int]


async def history_reads(system: System, code: str, expected: list[Row]) -> None:
    """Wait until processing's history of ``code`` is exactly ``expected`` (events may still travel)."""

    async def check() -> None:
        response = await system.processing.get(f"/api/v1/dossiers/{code}", headers=System.auth("demo-admin"))
        assert response.status_code == 200, response.text
        rows = [(row["action"], row["from_status"], row["to_status"]) for row in response.json()["history"]]
        assert rows == expected

    await eventually(check)


async def citizen_supplements(system: System, code: str) -> None:
    await citizen_view(system, code, 5)
    sent = await system.intake.post(
        f"/api/v1/dossiers/{code}/supplements",
        json={"note": "Gửi bổ sung", "documents": [{"name": "Giấy xác nhận", "kind": "scan"}]},
        headers=citizen_headers(),
    )
    assert sent.status_code == 202, sent.text


def later_working_day(due: datetime) -> datetime:
    moved = due + timedelta(days=7)
    while moved.weekday() >= 5:
        moved += timedelta(days=1)
    return moved


async def test_each_history_row_records_the_status_left_and_the_status_reached(system: System) -> None:
    spec = await procedure(system, "1.001193")  # reception → civil status → signature → seal → return
    units = [step["unit_code"] for step in spec["steps"]]
    supplement = {"reason": "Thiếu giấy tờ", "items": ["Giấy xác nhận"]}

    code = await accepted(system, spec)
    await act(system, code, "forward", staff(units[0]))
    await act(system, code, "claim", staff(units[1]))
    await act(system, code, "request-supplement", staff(units[1]), supplement)
    await citizen_supplements(system, code)
    paused_and_resumed: list[Row] = [
        ("submitted", None, 1),
        ("accept", 1, 2),
        ("forward", 2, 4),
        ("claim", 4, 4),
        ("request-supplement", 4, 5),
        ("supplement-provided", 5, 4),
    ]
    await history_reads(system, code, paused_and_resumed)
    due = datetime.fromisoformat((await system.registered(code))["due_at"])
    new_due = later_working_day(due).isoformat()
    await act(
        system,
        code,
        "reschedule",
        staff(units[1], "manager"),
        {"reason": "Chờ xác minh", "new_due_at": new_due},
    )
    await act(system, code, "forward", staff(units[1]))
    await act(system, code, "forward", staff(units[2]))
    await act(system, code, "approve", staff(units[3]), {"result": {"name": "Giấy khai sinh"}})
    await act(system, code, "claim", staff(units[4]))
    await act(system, code, "return-result", staff(units[4]))
    await citizen_view(system, code, 10)
    rated = await system.intake.post(
        f"/api/v1/dossiers/{code}/rating", json={"rating": "satisfied"}, headers=citizen_headers()
    )
    assert rated.status_code == 201, rated.text
    await history_reads(
        system,
        code,
        [
            *paused_and_resumed,
            ("reschedule", 4, 4),
            ("forward", 4, 4),
            ("forward", 4, 4),
            ("approve", 4, 9),
            ("claim", 9, 9),
            ("return-result", 9, 10),
            ("rated", 10, 10),
        ],
    )


async def test_refusals_rejection_and_withdrawal_record_where_the_dossier_came_from(system: System) -> None:
    spec = await procedure(system, "1.001193")
    units = [step["unit_code"] for step in spec["steps"]]
    desk = staff(units[0])

    refused_at_once = await submit_for(system, spec)
    await system.registered(refused_at_once)
    await act(system, refused_at_once, "refuse", desk, {"reason": "Sai thủ tục"})
    await history_reads(system, refused_at_once, [("submitted", None, 1), ("refuse", 1, 3)])

    # A supplement asked at reception resumes processing; one never sent ends in a refusal.
    never_completed = await accepted(system, spec)
    supplement = {"reason": "Thiếu giấy tờ", "items": ["Giấy xác nhận"]}
    await act(system, never_completed, "request-supplement", desk, supplement)
    await citizen_supplements(system, never_completed)
    await citizen_view(system, never_completed, 4)
    await act(system, never_completed, "request-supplement", desk, supplement)
    async with system.runtime("processing").db.session() as session:
        await session.execute(
            update(ProcessingDossier)
            .where(ProcessingDossier.code == never_completed)  # type: ignore[arg-type]
            .values(supplement_deadline_at=utc_now() - timedelta(minutes=1))
        )
    await act(system, never_completed, "refuse", desk, {"reason": "Quá hạn bổ sung"})
    await history_reads(
        system,
        never_completed,
        [
            ("submitted", None, 1),
            ("accept", 1, 2),
            ("request-supplement", 2, 5),
            ("supplement-provided", 5, 4),
            ("request-supplement", 4, 5),
            ("refuse", 5, 3),
        ],
    )

    rejected = await accepted(system, spec)
    await act(system, rejected, "forward", desk)
    await act(system, rejected, "reject", staff(units[1]), {"reason": "Không đủ điều kiện"})
    await act(system, rejected, "return-result", staff(units[4]))
    await history_reads(
        system,
        rejected,
        [
            ("submitted", None, 1),
            ("accept", 1, 2),
            ("forward", 2, 4),
            ("reject", 4, 9),
            ("return-result", 9, 10),
        ],
    )

    withdrawn = await accepted(system, spec)
    await citizen_view(system, withdrawn, 2)
    asked = await system.intake.post(
        f"/api/v1/dossiers/{withdrawn}/withdrawal", json={"reason": "Đổi ý"}, headers=citizen_headers()
    )
    assert asked.status_code == 202, asked.text
    await history_reads(system, withdrawn, [("submitted", None, 1), ("accept", 1, 2), ("withdraw", 2, 7)])
