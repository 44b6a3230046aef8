"""Asking a durable pull consumer for its messages without ever waiting to fill a batch.

nats-py's ``fetch(batch=n)`` waits for ``n`` messages, or for its timeout, whenever the consumer had
none at the moment it asked: it then sends a waiting request for ``n``, and reads until it has
``n`` or the request expires. A lone event on a quiet consumer waited that way for the whole fetch
timeout (5 s), and at a moderate load every batch waited to fill: measured with
``bench/lifecycle.py --concurrency 10``, events sat in their streams for 1 to 5 s before their
consumer took them, which made the p99 of the citizen's view 4.5 s while its p50 was 0.2 s.

``Puller.take`` asks in two steps instead. First for what the consumer has now (``no_wait``): the
server answers at once with up to ``batch`` messages, then a status when there were fewer. Only
when there were none does it wait, for a single message, which it hands on as soon as it comes.
Under load the first step brings whole batches; when quiet the second brings each event at once.

A request given up on (the process stopped reading, or a timeout) may still be answered later; what
arrives then waits in the inbox and is taken first the next time, and its late statuses are skipped.
Nothing is lost either way: a message not acknowledged within ``ack_wait`` is delivered again.
"""

from __future__ import annotations

import json
import time
from uuid import uuid4

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX

STATUS = "Status"


def is_status(message: Msg) -> bool:
    """A status of the server about a request (no messages, timeout, heartbeat), not a message."""
    return not message.data and bool(message.headers) and STATUS in (message.headers or {})


class Puller:
    """An inbox of its own on which one durable pull consumer's messages come, and the requests for
    them. The inbox is under ``inbox_prefix``, the only subjects the service's NATS user may read."""

    def __init__(self, connection: NATS, *, stream: str, durable: str, inbox_prefix: str) -> None:
        self.connection = connection
        self.inbox = f"{inbox_prefix}.{uuid4().hex}"
        self._next = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.connection.subscribe(self.inbox)

    async def stop(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    async def take(self, *, batch: int, wait: float) -> list[Msg]:
        """Up to ``batch`` messages: those the consumer has, at once; when it has none, the first
        to come within ``wait``. ``TimeoutError`` when none came."""
        subscription = self._subscription
        if subscription is None:
            raise RuntimeError("the puller is not started")
        taken = await _arrived(subscription, batch)
        if taken:
            return taken
        await self._ask({"batch": batch, "no_wait": True})
        taken = await _answer(subscription, batch, wait)
        if taken:
            return taken
        await self._ask({"batch": 1, "expires": int(wait * 1e9)})
        return [await _first(subscription, wait)]

    async def _ask(self, request: dict[str, object]) -> None:
        await self.connection.publish(self._next, json.dumps(request).encode(), reply=self.inbox)


async def _arrived(subscription: Subscription, batch: int) -> list[Msg]:
    """Up to ``batch`` of what is in the inbox already: late answers to requests given up on."""
    arrived: list[Msg] = []
    while subscription.pending_msgs and len(arrived) < batch:
        message = await subscription.next_msg(timeout=1.0)
        if not is_status(message):
            arrived.append(message)
    return arrived


async def _answer(subscription: Subscription, batch: int, wait: float) -> list[Msg]:
    """The server's answer to a ``no_wait`` request: messages until ``batch`` or a status."""
    taken: list[Msg] = []
    deadline = time.monotonic() + wait
    while len(taken) < batch:
        try:
            message = await subscription.next_msg(timeout=max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            break
        if is_status(message):
            break
        taken.append(message)
    return taken


async def _first(subscription: Subscription, wait: float) -> Msg:
    """The first message to come within ``wait``, skipping statuses (late ones of other requests,
    heartbeats, this request's own expiry)."""
    deadline = time.monotonic() + wait
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message = await subscription.next_msg(timeout=remaining)
        if not is_status(message):
            return message
