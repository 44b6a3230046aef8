"""Notify's live feed of alerts: each member of staff hears of the alerts in their scope as they are
stored, acknowledged and resolved, whoever they are addressed to, and of no other; the stream is
bounded like the inbox's.

Service tier: the three services on the in-process bus, notify behind uvicorn on a free port
(httpx's ASGI transport buffers an endless stream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.notify.inbox.live import ALERTS
from services.notify.models import Person
from shared.events import DossierStepCompleted, utc_now
from shared.runtime import ServiceRuntime
from tests.conftest import eventually
from tests.service.test_notify_channels import next_event
from tests.system import System, overdue_alert, serving

STREAM = "/api/v1/alerts/stream"
DEMO_AGENCY = "000.00.06.H56"
DEMO_UNIT = "H56.HC.MOTCUA"
OTHER_UNIT = "H56.HC.KT"


async def add_manager(system: System, username: str, unit_code: str) -> None:
    """A manager of ``unit_code`` in notify's copy of the directory."""
    runtime: ServiceRuntime = system.apps["notify"].state.runtime
    async with runtime.db.session() as session:
        session.add(
            Person(
                username=username,
                full_name="Trưởng phòng",
                role="manager",
                agency_code=DEMO_AGENCY,
                unit_code=unit_code,
                changed_at=utc_now(),
            )
        )


async def next_alert(lines: AsyncIterator[str]) -> dict[str, Any]:
    name, data = await asyncio.wait_for(next_event(lines), timeout=10)
    assert name == "alert", (name, data)
    return data


async def test_a_manager_hears_live_of_each_alert_in_their_unit_and_of_its_acknowledgement(
    system: System,
) -> None:
    await add_manager(system, "kt-manager", OTHER_UNIT)
    async with contextlib.AsyncExitStack() as stack:
        base_url = await stack.enter_async_context(serving(system.apps["notify"]))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=10))
        streams: dict[str, AsyncIterator[str]] = {}
        for username in ("demo-manager", "kt-manager"):
            response = await stack.enter_async_context(
                client.stream("GET", STREAM, headers=system.auth(username))
            )
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            streams[username] = response.aiter_lines()
            assert await asyncio.wait_for(next_event(streams[username]), timeout=5) == (
                "ready",
                {"role": "manager"},
            )

        # A rung-0 alert addressed to the step's officer alone reaches their unit's manager.
        theirs = overdue_alert("000.00.06.H56-261127-0301", "demo-officer", unit_code=DEMO_UNIT)
        await system.publish("processing", theirs)
        pushed = await next_alert(streams["demo-manager"])
        assert pushed["dossier_code"] == theirs.dossier_code and pushed["event_id"] == str(theirs.event_id)
        assert pushed["kind"] == "overdue" and pushed["status"] == "open" and pushed["rung"] == 0
        listed = await client.get("/api/v1/alerts", headers=system.auth("demo-manager"))
        assert listed.json() == [pushed]
        inbox = await client.get("/api/v1/inbox", headers=system.auth("demo-manager"))
        assert inbox.json()["items"] == []

        # Another unit's manager hears only of their own unit's alerts.
        other = overdue_alert("000.00.06.H56-261127-0302", "kt-officer", unit_code=OTHER_UNIT)
        await system.publish("processing", other)
        assert (await next_alert(streams["kt-manager"]))["dossier_code"] == other.dossier_code

        # The acknowledgement is pushed, and then the alert's end.
        ack = await client.post(f"/api/v1/alerts/{pushed['id']}/ack", headers=system.auth("demo-manager"))
        assert ack.status_code == 200
        acknowledged = await next_alert(streams["demo-manager"])
        assert acknowledged["id"] == pushed["id"] and acknowledged["status"] == "acknowledged"
        assert acknowledged["acknowledged_by"] == "demo-manager"
        await system.publish(
            "processing",
            DossierStepCompleted(
                dossier_code=theirs.dossier_code,
                step_index=0,
                step_name="Tiếp nhận",
                unit_code=DEMO_UNIT,
                completed_by="demo-officer",
                completed_at=utc_now(),
                used_hours=9,
                allotted_hours=8,
            ),
        )
        resolved = await next_alert(streams["demo-manager"])
        assert resolved["id"] == pushed["id"] and resolved["status"] == "resolved"

        # Nothing of the demo unit reached the other manager meanwhile.
        await system.publish(
            "processing", overdue_alert("000.00.06.H56-261127-0303", "kt-officer", unit_code=OTHER_UNIT)
        )
        assert (await next_alert(streams["kt-manager"]))["dossier_code"] == "000.00.06.H56-261127-0303"


async def test_the_alert_stream_is_bounded_per_user_apart_from_the_inbox_stream(system: System) -> None:
    feed = system.apps["notify"].state.inbox_feed
    headers = system.auth("demo-manager")
    async with (
        serving(system.apps["notify"]) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        # Each stream's line iterator is kept: dropping one closes its response.
        open_lines: list[AsyncIterator[str]] = []
        for path in (STREAM, STREAM, STREAM, "/api/v1/inbox/stream"):
            response = await stack.enter_async_context(client.stream("GET", path, headers=headers))
            assert response.status_code == 200
            open_lines.append(response.aiter_lines())
            await asyncio.wait_for(next_event(open_lines[-1]), timeout=5)

        refused = await client.get(STREAM, headers=headers)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert "already has 3 alerts streams open" in refused.json()["detail"]
        assert (await client.get(STREAM)).status_code == 401
        assert (await client.get(STREAM, headers=system.auth("nobody"))).status_code == 401

    def all_closed() -> None:
        assert feed.subscribers("demo-manager", topic=ALERTS) == 0

    await eventually(all_closed, timeout=5)
