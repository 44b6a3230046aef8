"""The inbox's live feed: an in-process publish/subscribe of new inbox notifications, one bounded
queue per open connection, fed only once the transaction that stored them has committed.

Each replica pushes what its own consumer stored. With several replicas a connected client hears
only of the notifications stored by the replica it is connected to; the inbox itself
(``GET /api/v1/inbox``) is the source of truth, so a client fetches it on (re)connecting and the
feed only saves it from polling. A connection that falls too far behind loses the overflow, for
the same reason.

A stream is bounded like the token that opened it: a user has at most a few open at once (per
replica), and a stream ends with ``event: expired`` when the token expires and with
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


class InboxFeed:
    def __init__(self, *, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Message]]] = {}
        self._closed = False

    def open(self, recipient: str, *, limit: int | None = None) -> Subscription:
        """A queue receiving each notification published for ``recipient`` until it is closed;
        raises ``TooManyStreams`` when ``recipient`` already has ``limit`` open. Synchronous, so
        that the count and the new place are one step: two requests cannot both take the last."""
        queues = self._subscribers.setdefault(recipient, set())
        if limit is not None and len(queues) >= limit:
            if not queues:
                del self._subscribers[recipient]
            raise TooManyStreams(recipient)
        queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=self.queue_size)
        if self._closed:
            queue.put_nowait(None)
        queues.add(queue)

        def release() -> None:
            found = self._subscribers.get(recipient)
            if found is not None:
                found.discard(queue)
                if not found:
                    del self._subscribers[recipient]

        return Subscription(queue, release)

    @asynccontextmanager
    async def subscribe(self, recipient: str) -> AsyncIterator[asyncio.Queue[Message]]:
        """A queue receiving each notification published for ``recipient`` while the block runs."""
        subscription = self.open(recipient)
        try:
            yield subscription.queue
        finally:
            subscription.close()

    def subscribers(self, recipient: str) -> int:
        return len(self._subscribers.get(recipient, ()))

    def publish(self, recipient: str, message: dict[str, Any]) -> None:
        for queue in self._subscribers.get(recipient, ()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                logger.warning("inbox feed of %s is full: a notification was not pushed", recipient)

    def publish_after_commit(
        self, session: AsyncSession, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> None:
        """Publish ``(recipient, message)`` pairs once ``session``'s transaction has committed; a
        rolled-back transaction publishes nothing."""
        pending = list(messages)
        if not pending:
            return
        sync_session = session.sync_session
        rolled_back = False

        def on_rollback(_session: Any, previous: SessionTransaction) -> None:
            # A savepoint's rollback leaves the outer transaction, and what it stored, in place.
            nonlocal rolled_back
            if not previous.nested:
                rolled_back = True

        def on_commit(_session: Any) -> None:
            event.remove(sync_session, "after_soft_rollback", on_rollback)
            if rolled_back:
                return
            for recipient, message in pending:
                self.publish(recipient, message)

        event.listen(sync_session, "after_soft_rollback", on_rollback)
        event.listen(sync_session, "after_commit", on_commit, once=True)

    def close(self) -> None:
        """End every open stream (the service is stopping)."""
        self._closed = True
        for queues in self._subscribers.values():
            for queue in queues:
                # Make room for the sentinel: the stream is ending anyway.
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    def reopen(self) -> None:
        self._closed = False


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
) -> AsyncIterator[str]:
    """Each message from ``queue`` as an ``event: notification``, with a comment line now and then
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
        yield sse_event("notification", message)
