"""The rules of the inbox's live feed without a server: the place limit, and the ends of a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta

import pytest

from services.notify.inbox.live import InboxFeed, Message, TooManyStreams, sse_stream
from shared.auth import InvalidToken, issue_token, token_expires_at
from shared.events import utc_now

SECRET = "unit-test-secret-0123456789abcdef0123"


def test_a_recipient_gets_no_more_streams_than_the_limit_and_a_closed_one_frees_its_place() -> None:
    feed = InboxFeed()
    opened = [feed.open("an", limit=2) for _ in range(2)]
    with pytest.raises(TooManyStreams):
        feed.open("an", limit=2)
    feed.open("binh", limit=2)

    opened[0].close()
    opened[0].close()  # closing twice frees one place, not two

    assert feed.subscribers("an") == 1
    feed.open("an", limit=2)
    with pytest.raises(TooManyStreams):
        feed.open("an", limit=2)


async def test_a_stream_ends_with_expired_once_its_token_expires() -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    stream = sse_stream(queue, keepalive_seconds=5, expires_at=utc_now() + timedelta(milliseconds=100))

    chunks = await asyncio.wait_for(_all(stream), timeout=2)

    assert chunks[-1].startswith("event: expired\n")


async def test_a_stream_ends_with_deactivated_when_the_user_is_no_longer_active() -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    answers = iter([True, False])

    async def still_active() -> bool:
        return next(answers)

    stream = sse_stream(queue, keepalive_seconds=5, still_active=still_active, check_seconds=0.05)

    chunks = await asyncio.wait_for(_all(stream), timeout=2)

    assert [chunk.split("\n", 1)[0] for chunk in chunks] == ["event: deactivated"]


async def test_keepalives_still_flow_while_the_checks_run_more_often() -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()

    async def still_active() -> bool:
        return True

    stream = sse_stream(queue, keepalive_seconds=0.1, still_active=still_active, check_seconds=0.01)
    assert isinstance(stream, AsyncGenerator)

    assert await asyncio.wait_for(anext(stream), timeout=2) == ": keepalive\n\n"
    await stream.aclose()


def test_a_tokens_expiry_is_read_from_the_token_itself() -> None:
    before = utc_now().replace(microsecond=0)
    token = issue_token("an", secret=SECRET, ttl_hours=1)

    expires = token_expires_at(token, secret=SECRET)

    assert before + timedelta(hours=1) <= expires <= utc_now() + timedelta(hours=1)
    with pytest.raises(InvalidToken):
        token_expires_at(token, secret=SECRET + "x")


async def _all(stream: AsyncIterator[str]) -> list[str]:
    return [chunk async for chunk in stream]
