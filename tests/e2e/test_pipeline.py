"""The first path through all three services: a citizen submits, processing registers, an officer
accepts or refuses, notify writes the citizen's receipt, intake shows the new status."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from shared.events import DossierStatus
from shared.working_time import VN_TZ, WorkingCalendar
from tests.conftest import eventually
from tests.system import APPLICANT, CODE, System, citizen_headers, notifications_for


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
