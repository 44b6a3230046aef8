"""Notify's channels beyond email: the staff inbox, read and marked as read, and its live feed as
Server-Sent Events over a real socket. Alerts are published through processing's outbox, as
processing itself raises them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.events import utc_now
from tests.conftest import eventually
from tests.system import System, overdue_alert, serving

DEMO_AGENCY = "000.00.06.H56"
DEMO_UNIT = "H56.HC.MOTCUA"


async def inbox_of(system: System, username: str, count: int, **params: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        response = await system.notify.get("/api/v1/inbox", params=params, headers=system.auth(username))
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert len(page["items"]) == count, page
        return page

    return await eventually(check)


async def test_staff_read_their_own_inbox_newest_first_and_mark_it_read(system: System) -> None:
    assert (await system.notify.get("/api/v1/inbox")).status_code == 401
    await inbox_of(system, "demo-officer", 0)  # the directory copy has arrived
    first = overdue_alert("000.00.06.H56-261127-0101", "demo-officer")
    await system.publish("processing", first)
    await inbox_of(system, "demo-officer", 1)
    second = overdue_alert("000.00.06.H56-261127-0102", "demo-officer", "demo-manager")
    await system.publish("processing", second)

    page = await inbox_of(system, "demo-officer", 2)
    assert page["unread"] == 2
    assert [row["dossier_code"] for row in page["items"]] == [second.dossier_code, first.dossier_code]
    assert {row["channel"] for row in page["items"]} == {"inbox"}
    assert all(row["read_at"] is None for row in page["items"])
    paged = await inbox_of(system, "demo-officer", 1, limit=1, offset=1)
    assert paged["items"][0]["dossier_code"] == first.dossier_code and paged["unread"] == 2

    newest = page["items"][0]["id"]
    read = await system.notify.post(f"/api/v1/inbox/{newest}/read", headers=system.auth("demo-officer"))
    assert read.status_code == 200, read.text
    read_at = read.json()["read_at"]
    assert read_at is not None
    # Reading it again keeps the first reading.
    again = await system.notify.post(f"/api/v1/inbox/{newest}/read", headers=system.auth("demo-officer"))
    assert again.status_code == 200 and again.json()["read_at"] == read_at
    after = await inbox_of(system, "demo-officer", 2)
    assert after["unread"] == 1
    assert [row["read_at"] is not None for row in after["items"]] == [True, False]

    managers = await inbox_of(system, "demo-manager", 1)
    someone_elses = managers["items"][0]["id"]
    denied = await system.notify.post(
        f"/api/v1/inbox/{someone_elses}/read", headers=system.auth("demo-officer")
    )
    assert denied.status_code == 404
    missing = await system.notify.post("/api/v1/inbox/nope/read", headers=system.auth("demo-officer"))
    assert missing.status_code == 404
    assert (await inbox_of(system, "demo-manager", 1))["unread"] == 1


async def next_event(lines: AsyncIterator[str]) -> tuple[str, dict[str, Any]]:
    """The next Server-Sent Event's name and JSON data, skipping keep-alive comments."""
    name, data = "message", ""
    async for line in lines:
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
        elif line == "" and data:
            parsed: dict[str, Any] = json.loads(data)
            return name, parsed
    raise AssertionError("the stream ended")


async def test_a_new_alert_reaches_the_officer_live_over_server_sent_events(system: System) -> None:
    await inbox_of(system, "demo-officer", 0)
    await system.publish("processing", overdue_alert("000.00.06.H56-261127-0201", "demo-officer"))
    await inbox_of(system, "demo-officer", 1)
    feed = system.apps["notify"].state.inbox_feed

    async with (
        # httpx's ASGI transport buffers a streaming response whole: an endless stream needs a socket.
        serving(system.apps["notify"]) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        client.stream("GET", "/api/v1/inbox/stream", headers=system.auth("demo-officer")) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        assert await asyncio.wait_for(next_event(lines), timeout=5) == ("unread", {"unread": 1})

        # Someone else's alert is not pushed to this officer; theirs is, within a second of storing.
        await system.publish("processing", overdue_alert("000.00.06.H56-261127-0202", "demo-manager"))
        live = overdue_alert("000.00.06.H56-261127-0203", "demo-officer")
        await system.publish("processing", live)
        name, data = await asyncio.wait_for(next_event(lines), timeout=10)
        received_at = utc_now()

        assert name == "notification"
        assert data["dossier_code"] == live.dossier_code
        assert data["event_type"] == "alert.overdue" and data["recipient"] == "demo-officer"
        assert data["channel"] == "inbox" and data["read_at"] is None
        assert received_at - datetime.fromisoformat(data["created_at"]) < timedelta(seconds=1)
        page = await inbox_of(system, "demo-officer", 2)
        assert page["items"][0]["id"] == data["id"]

    # The closed connection left the feed.
    await eventually(lambda: _unsubscribed(feed.subscribers("demo-officer")), timeout=5)


def _unsubscribed(count: int) -> None:
    assert count == 0


async def test_the_live_feed_needs_a_known_user(system: System) -> None:
    path = "/api/v1/inbox/stream"
    assert (await system.notify.get(path)).status_code == 401
    assert (await system.notify.get(path, headers=system.auth("nobody"))).status_code == 401
