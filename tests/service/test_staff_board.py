"""The manager's board: open, near-due, overdue and stalled dossiers per unit from processing's data,
and the short-lived bearer token with which the page calls notify (which allows processing's origin).
Service tier: the three services on an in-process bus."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from services.processing.models import Dossier, SlaClaim
from services.processing.pages.board import unit_counts
from shared.events import utc_now
from shared.staff import Staff
from shared.working_time import WorkingCalendar
from tests.service.test_staff_sign_in import sign_in
from tests.system import System

DESK = "H56.HC.MOTCUA"
CSRF_DATA = re.compile(r'data-csrf="([^"]+)"')


@pytest.fixture
async def manager(system: System) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    async with httpx.AsyncClient(transport=transport, base_url="http://processing") as client:
        assert (await sign_in(client, "demo-manager")).status_code == 303
        yield client


async def submitted(system: System) -> str:
    code: str = (await system.submit())["code"]
    await system.registered(code)
    return code


async def test_the_board_counts_open_near_due_overdue_and_stalled_dossiers_per_unit(
    system: System, manager: httpx.AsyncClient
) -> None:
    on_time, late, stalled = [await submitted(system) for _ in range(3)]
    runtime = system.runtime("processing")
    now = utc_now()
    async with runtime.db.session() as session:
        for code, due in (
            (on_time, timedelta(days=30)),
            (late, -timedelta(hours=1)),
            (stalled, timedelta(hours=1)),
        ):
            row = await session.get(Dossier, code)
            assert row is not None
            row.acceptance_due_at = now + due
            session.add(row)
        # A stalled alert on the running step, after its last action.
        row = await session.get(Dossier, stalled)
        assert row is not None
        row.current_step_index = 0
        row.last_action_at = now - timedelta(minutes=5)
        session.add(SlaClaim(dossier_code=stalled, step_index=0, kind="stalled", rung=0, raised_at=now))
    viewer = Staff(username="demo-manager", role="manager", agency_code="000.00.06.H56", unit_code=DESK)
    near = WorkingCalendar().deadline_after(now, 4.0)
    async with runtime.db.reading() as session:
        [desk] = await unit_counts(session, viewer=viewer, now=now, near=near)
        other_unit = Staff(username="x", role="manager", agency_code="000.00.06.H56", unit_code="H56.HC.LD")
        assert await unit_counts(session, viewer=other_unit, now=now, near=near) == []
    assert (desk.unit_code, desk.open, desk.near_due, desk.overdue, desk.stalled) == (DESK, 3, 1, 1, 1)

    page = await manager.get("/board")
    assert page.status_code == 200
    assert desk.unit_name in page.text
    assert '<span class="badge bad">1</span>' in page.text
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self' http://" in policy and ":8003" in policy
    # The counts alone, as the board reads them again when alerts arrive.
    counts = await manager.get("/board/counts")
    assert counts.status_code == 200 and "<html" not in counts.text.lower()
    assert desk.unit_name in counts.text and '<span class="badge bad">1</span>' in counts.text


async def test_an_officer_has_no_board(system: System) -> None:
    transport = httpx.ASGITransport(app=system.apps["processing"])
    async with httpx.AsyncClient(transport=transport, base_url="http://processing") as officer:
        assert (await sign_in(officer, "demo-officer")).status_code == 303
        page = await officer.get("/board")
        assert page.status_code == 403 and "dành cho lãnh đạo" in page.text


async def test_the_board_gets_a_short_lived_token_that_notify_takes(
    system: System, manager: httpx.AsyncClient
) -> None:
    page = await manager.get("/board")
    found = CSRF_DATA.search(page.text)
    assert found
    refused = await manager.post("/board/token")
    assert refused.status_code == 403
    issued = await manager.post("/board/token", headers={"X-CSRF-Token": found.group(1)})
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    body = issued.json()
    alerts = await system.notify.get(
        "/api/v1/alerts?status=open", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert alerts.status_code == 200
    assert (await manager.get("/board.js")).headers["content-type"].startswith("text/javascript")


async def test_notify_lets_processings_pages_call_it_and_no_other_origin(system: System) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }

    allowed = await system.notify.options("/api/v1/alerts", headers=preflight("http://127.0.0.1:8002"))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:8002"
    assert "access-control-allow-credentials" not in allowed.headers
    other = await system.notify.options("/api/v1/alerts", headers=preflight("https://evil.example"))
    assert "access-control-allow-origin" not in other.headers
    read = await system.notify.get(
        "/api/v1/alerts", headers={"Origin": "http://127.0.0.1:8002", **System.auth("demo-manager")}
    )
    assert read.status_code == 200 and read.headers["access-control-allow-origin"] == "http://127.0.0.1:8002"
