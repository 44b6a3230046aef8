"""The inbox's live feed: an in-process publish/subscribe of new inbox notifications, one bounded
queue per open connection, fed only once the transaction that stored them has committed.

Each replica pushes what its own consumer stored. With several replicas a connected client hears
only of the notifications stored by the replica it is connected to; the inbox itself
(``GET /api/v1/inbox``) is the source of truth, so a client fetches it on (re)connecting and the
feed only saves it from polling. A connection that falls too far behind loses the overflow, for
the same reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel.ext.asyncio.session import AsyncSession

logger = logging.getLogger(__name__)

# A message is a JSON-ready mapping; None tells a subscriber that the feed is closing.
Message = dict[str, Any] | None


class InboxFeed:
    def __init__(self, *, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Message]]] = {}
        self._closed = False

    @asynccontextmanager
    async def subscribe(self, recipient: str) -> AsyncIterator[asyncio.Queue[Message]]:
        """A queue receiving each notification published for ``recipient`` while the block runs."""
        queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=self.queue_size)
        if self._closed:
            queue.put_nowait(None)
        self._subscribers.setdefault(recipient, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(recipient)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[recipient]

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


async def sse_stream(queue: asyncio.Queue[Message], *, keepalive_seconds: float) -> AsyncIterator[str]:
    """Each message from ``queue`` as an ``event: notification``, with a comment line now and then
    so that proxies keep an idle connection open; ends when the feed closes."""
    while True:
        try:
            message = await asyncio.wait_for(queue.get(), timeout=keepalive_seconds)
        except TimeoutError:
            yield ": keepalive\n\n"
            continue
        if message is None:
            return
        yield sse_event("notification", message)
