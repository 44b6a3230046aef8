"""Notify's live feeds: an in-process publish/subscribe, one bounded queue per open connection, fed
only once the transaction that stored what it carries has committed. A stream is one user's, on one
topic: their inbox (the new notifications addressed to them), or the alerts (each alert stored or
changed, pushed to every stream whose filter takes it: the alerts in the user's scope).

Each replica pushes what its own consumer stored. With several replicas a connected client hears
only of what the replica it is connected to stored; the inbox and the alerts themselves
(``GET /api/v1/inbox``, ``GET /api/v1/alerts``) are the source of truth, so a client fetches them on
(re)connecting and the feed only saves it from polling. A connection that falls too far behind
loses the overflow, for the same reason.

A stream is bounded like the token that opened it: a user has at most a few open at once per
topic (per replica), and a stream ends with ``event: expired`` when the token expires and with
``event: deactivated`` once the directory copy marks the user inactive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.events import utc_now

logger = logging.getLogger(__name__)

# A message is a JSON-ready mapping; None tells a subscriber that the feed is closing.
Message = dict[str, Any] | None
# Whether a stream takes a broadcast message.
Accepts = Callable[[dict[str, Any]], bool]

INBOX = "inbox"
ALERTS = "alerts"


class TooManyStreams(Exception):
    """The recipient already has as many open streams as allowed."""


@dataclass(eq=False)
class Subscription:
    """One open stream's queue; ``close`` (idempotent) frees its place."""

    queue: asyncio.Queue[Message]
    _release: Callable[[], None]
    _closed: bool = field(default=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()


@dataclass(eq=False)
class _Stream:
    queue: asyncio.Queue[Message]
    accepts: Accepts | None


class InboxFeed:
    """The live streams of one replica, by topic (``INBOX``, ``ALERTS``) and user."""

    def __init__(self, *, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        # topic -> user -> their open streams
        self._topics: dict[str, dict[str, set[_Stream]]] = {}
        self._closed = False

    def open(
        self,
        recipient: str,
        *,
        limit: int | None = None,
        topic: str = INBOX,
        accepts: Accepts | None = None,
    ) -> Subscription:
        """A queue receiving each message of ``topic`` for ``recipient`` (published for them, or
        broadcast and taken by ``accepts``) until it is closed; raises ``TooManyStreams`` when
        ``recipient`` already has ``limit`` open on the topic. Synchronous, so that the count and
        the new place are one step: two requests cannot both take the last."""
        users = self._topics.setdefault(topic, {})
        streams = users.setdefault(recipient, set())
        if limit is not None and len(streams) >= limit:
            if not streams:
                del users[recipient]
            raise TooManyStreams(recipient)
        stream = _Stream(asyncio.Queue(maxsize=self.queue_size), accepts)
        if self._closed:
            stream.queue.put_nowait(None)
        streams.add(stream)

        def release() -> None:
            found = users.get(recipient)
            if found is not None:
                found.discard(stream)
                if not found:
                    del users[recipient]

        return Subscription(stream.queue, release)

    @asynccontextmanager
    async def subscribe(self, recipient: str) -> AsyncIterator[asyncio.Queue[Message]]:
        """A queue receiving each notification published for ``recipient`` while the block runs."""
        subscription = self.open(recipient)
        try:
            yield subscription.queue
        finally:
            subscription.close()

    def subscribers(self, recipient: str, *, topic: str = INBOX) -> int:
        return len(self._topics.get(topic, {}).get(recipient, ()))

    def publish(self, recipient: str, message: dict[str, Any]) -> None:
        """Push ``message`` to each of ``recipient``'s inbox streams."""
        for stream in self._topics.get(INBOX, {}).get(recipient, ()):
            _push(stream, recipient, message)

    def broadcast(self, message: dict[str, Any], *, topic: str = ALERTS) -> None:
        """Push ``message`` to each stream of ``topic`` that takes it."""
        for recipient, streams in self._topics.get(topic, {}).items():
            for stream in streams:
                if stream.accepts is None or stream.accepts(message):
                    _push(stream, recipient, message)

    def publish_after_commit(
        self, session: AsyncSession, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> None:
        """Publish ``(recipient, message)`` pairs once ``session``'s transaction has committed; a
        rolled-back transaction publishes nothing."""
        pending = list(messages)

        def publish_all() -> None:
            for recipient, message in pending:
                self.publish(recipient, message)

        if pending:
            _after_commit(session, publish_all)

    def broadcast_after_commit(
        self, session: AsyncSession, messages: Iterable[dict[str, Any]], *, topic: str = ALERTS
    ) -> None:
        """``broadcast`` each message once ``session``'s transaction has committed; a rolled-back
        transaction broadcasts nothing."""
        pending = list(messages)

        def broadcast_all() -> None:
            for message in pending:
                self.broadcast(message, topic=topic)

        if pending:
            _after_commit(session, broadcast_all)

    def close(self) -> None:
        """End every open stream (the service is stopping)."""
        self._closed = True
        for users in self._topics.values():
            for streams in users.values():
                for stream in streams:
                    # Make room for the sentinel: the stream is ending anyway.
                    while stream.queue.full():
                        stream.queue.get_nowait()
                    stream.queue.put_nowait(None)

    def reopen(self) -> None:
        self._closed = False


def _push(stream: _Stream, recipient: str, message: dict[str, Any]) -> None:
    try:
        stream.queue.put_nowait(message)
    except asyncio.QueueFull:
        logger.warning("a live feed of %s is full: a message was not pushed", recipient)


def _after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` once ``session``'s transaction has committed, never after a rollback."""
    sync_session = session.sync_session
    rolled_back = False

    def on_rollback(_session: Any, previous: SessionTransaction) -> None:
        # A savepoint's rollback leaves the outer transaction, and what it stored, in place.
        nonlocal rolled_back
        if not previous.nested:
            rolled_back = True

    def on_commit(_session: Any) -> None:
        event.remove(sync_session, "after_soft_rollback", on_rollback)
        if not rolled_back:
            action()

    event.listen(sync_session, "after_soft_rollback", on_rollback)
    event.listen(sync_session, "after_commit", on_commit, once=True)


def sse_event(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event; the JSON data holds no newline, so it fits one ``data:`` line."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def sse_stream(
    queue: asyncio.Queue[Message],
    *,
    keepalive_seconds: float,
    expires_at: datetime | None = None,
    still_active: Callable[[], Awaitable[bool]] | None = None,
    check_seconds: float = 30.0,
    name: str = "notification",
) -> AsyncIterator[str]:
    """Each message from ``queue`` as an ``event: <name>``, with a comment line now and then
    so that proxies keep an idle connection open; ends when the feed closes, with
    ``event: expired`` at ``expires_at``, and with ``event: deactivated`` when ``still_active``
    (asked every ``check_seconds``) says no."""
    clock = time.monotonic
    last_sent = next_check = clock()
    next_check += check_seconds
    while True:
        if expires_at is not None and utc_now() >= expires_at:
            yield sse_event("expired", {"reason": "the token expired; sign in again"})
            return
        if still_active is not None and clock() >= next_check:
            next_check = clock() + check_seconds
            if not await still_active():
                yield sse_event("deactivated", {"reason": "the account is no longer active"})
                return
        waits = [last_sent + keepalive_seconds - clock()]
        if expires_at is not None:
            waits.append((expires_at - utc_now()).total_seconds())
        if still_active is not None:
            waits.append(next_check - clock())
        try:
            message = await asyncio.wait_for(queue.get(), timeout=max(0.0, min(waits)))
        except TimeoutError:
            if clock() >= last_sent + keepalive_seconds:
                last_sent = clock()
                yield ": keepalive\n\n"
            continue
        if message is None:
            return
        last_sent = clock()
        yield sse_event(name, message)
