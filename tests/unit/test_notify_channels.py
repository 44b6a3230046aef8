"""The inbox's live feed: only committed notifications are pushed, each to its own recipient's
open streams, as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.inbox.live import InboxFeed, sse_event, sse_stream
from services.notify.models import Notification, metadata


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/notify.db")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        async with AsyncSession(engine) as opened:
            yield opened
    finally:
        await engine.dispose()


def stored(recipient: str) -> Notification:
    return Notification(
        event_id="e-1", event_type="alert.overdue", recipient=recipient, subject="Quá hạn", body="…"
    )


async def test_a_committed_notification_is_pushed_to_its_recipient_only(session: AsyncSession) -> None:
    feed = InboxFeed()
    async with feed.subscribe("demo-officer") as mine, feed.subscribe("demo-manager") as theirs:
        session.add(stored("demo-officer"))
        feed.publish_after_commit(session, [("demo-officer", {"id": "n-1"})])
        assert mine.empty()  # not before the commit
        await session.commit()

        assert mine.get_nowait() == {"id": "n-1"}
        assert theirs.empty()
        # The listener fires once: a later commit of the same session pushes nothing again.
        await session.commit()
        assert mine.empty()
    assert feed.subscribers("demo-officer") == 0


async def test_a_rolled_back_notification_is_never_pushed(session: AsyncSession) -> None:
    feed = InboxFeed()
    async with feed.subscribe("demo-officer") as queue:
        session.add(stored("demo-officer"))
        feed.publish_after_commit(session, [("demo-officer", {"id": "n-1"})])
        await session.rollback()
        await session.commit()

        assert queue.empty()


async def test_a_rolled_back_savepoint_keeps_what_the_transaction_stored(session: AsyncSession) -> None:
    feed = InboxFeed()
    async with feed.subscribe("demo-officer") as queue:
        session.add(stored("demo-officer"))
        feed.publish_after_commit(session, [("demo-officer", {"id": "n-1"})])
        savepoint = await session.begin_nested()
        await savepoint.rollback()
        await session.commit()

        assert queue.get_nowait() == {"id": "n-1"}


async def test_a_stream_sends_events_and_ends_when_the_feed_closes() -> None:
    feed = InboxFeed()
    async with feed.subscribe("demo-officer") as queue:
        feed.publish("demo-officer", {"subject": "Hồ sơ quá hạn"})
        feed.close()
        chunks = [chunk async for chunk in sse_stream(queue, keepalive_seconds=5)]

    assert chunks == ['event: notification\ndata: {"subject":"Hồ sơ quá hạn"}\n\n']


async def test_an_idle_stream_sends_keepalive_comments() -> None:
    queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()
    stream = sse_stream(queue, keepalive_seconds=0.01)
    assert await anext(stream) == ": keepalive\n\n"
    await stream.aclose()


def test_an_event_is_one_json_data_line() -> None:
    event = sse_event("unread", {"unread": 3, "text": "a\nb"})
    name, data, blank, end = event.split("\n")
    assert (name, blank, end) == ("event: unread", "", "")
    assert json.loads(data.removeprefix("data: ")) == {"unread": 3, "text": "a\nb"}


def test_a_full_queue_drops_the_overflow_instead_of_blocking() -> None:
    async def run() -> None:
        feed = InboxFeed(queue_size=1)
        async with feed.subscribe("demo-officer") as queue:
            feed.publish("demo-officer", {"id": "1"})
            feed.publish("demo-officer", {"id": "2"})
            assert queue.qsize() == 1 and queue.get_nowait() == {"id": "1"}

    asyncio.run(run())
