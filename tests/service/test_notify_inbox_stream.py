"""Notify's live inbox feed is bounded like the token that opens it: a few streams per user (429
with Retry-After beyond), and a stream ends when its token expires or its user is deactivated.

Service tier: notify's app in process behind uvicorn on a free port (httpx's ASGI transport
buffers an endless stream), over a real temporary database, without NATS."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import update

from services.notify.app import create_app
from services.notify.models import Person
from services.notify.settings import InboxStreamSettings
from shared.auth import issue_token
from shared.events import utc_now
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory, eventually
from tests.service.test_notify_channels import next_event
from tests.system import serving

STREAM = "/api/v1/inbox/stream"
OFFICER = "officer-1"
SECRET = os.environ["MOTCUA_JWT_SECRET"]


def bearer(username: str = OFFICER, *, ttl_seconds: float = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(username, secret=SECRET, ttl_hours=ttl_seconds / 3600)}"}


@pytest.fixture
async def notify(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[FastAPI]:
    common = CommonSettings(data_dir=tmp_path / "data")
    app = create_app(
        RuntimeSettings(common=common, database=database_settings("notify")),
        inbox_stream=InboxStreamSettings(max_per_user=3, retry_after_seconds=7, active_check_seconds=0.2),
    )
    runtime: ServiceRuntime = app.state.runtime
    await upgrade(runtime.db, runtime.migrations)
    async with runtime.db.session() as session:
        for username in (OFFICER, "officer-2"):
            session.add(Person(username=username, full_name="Cán bộ", role="officer", changed_at=utc_now()))
    try:
        yield app
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


@pytest.fixture
async def client(notify: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(notify) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def test_a_user_has_at_most_three_streams_open_and_the_fourth_gets_429_with_retry_after(
    notify: FastAPI, client: httpx.AsyncClient
) -> None:
    # Each stream's line iterator is kept: dropping one closes its response.
    open_lines: list[AsyncIterator[str]] = []
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(3):
            response = await streams.enter_async_context(client.stream("GET", STREAM, headers=bearer()))
            assert response.status_code == 200
            open_lines.append(response.aiter_lines())
            assert await asyncio.wait_for(next_event(open_lines[-1]), timeout=5) == ("unread", {"unread": 0})

        refused = await client.get(STREAM, headers=bearer())
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "7"
        assert "already has 3 inbox streams open" in refused.json()["detail"]
        # The limit is per user: a colleague still gets one.
        async with client.stream("GET", STREAM, headers=bearer("officer-2")) as other:
            assert other.status_code == 200

    # Closed streams free their places.
    feed = notify.state.inbox_feed

    def all_closed() -> None:
        assert feed.subscribers(OFFICER) == 0

    await eventually(all_closed, timeout=5)
    async with client.stream("GET", STREAM, headers=bearer()) as again:
        assert again.status_code == 200


async def test_the_stream_ends_with_an_expired_event_when_its_token_expires(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("GET", STREAM, headers=bearer(ttl_seconds=2)) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert (await asyncio.wait_for(next_event(lines), timeout=5))[0] == "unread"

        name, data = await asyncio.wait_for(next_event(lines), timeout=5)

        assert name == "expired" and "sign in again" in data["reason"]
        with pytest.raises(AssertionError, match="the stream ended"):
            await asyncio.wait_for(next_event(lines), timeout=5)


async def test_the_stream_ends_when_the_user_is_deactivated(
    notify: FastAPI, client: httpx.AsyncClient
) -> None:
    runtime: ServiceRuntime = notify.state.runtime
    async with client.stream("GET", STREAM, headers=bearer()) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert (await asyncio.wait_for(next_event(lines), timeout=5))[0] == "unread"

        async with runtime.db.session() as session:
            await session.exec(update(Person).where(Person.username == OFFICER).values(active=False))  # type: ignore[arg-type]

        name, _ = await asyncio.wait_for(next_event(lines), timeout=5)
        assert name == "deactivated"
    assert (await client.get(STREAM, headers=bearer())).status_code == 401
