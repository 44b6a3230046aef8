"""An in-process bus: what a service's outbox relay publishes goes straight to the handlers of every
service attached, through each one's inbox, without NATS. Service-tier tests run the whole system on
it in milliseconds; production always runs on JetStream.

It keeps what the handlers rely on: the events of one outbox arrive in its order, one delivery at a
time, and a handler that fails leaves the row in the outbox, so the relay publishes it again later
and the inboxes of the services that did handle it drop the repeat. What only JetStream does is left
out: SLA timers (scheduled messages) and their purges are not delivered, consumers are not retried
with backoff, and nothing is dead-lettered. Tests of those run on a real nats-server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from shared.bus.outbox import OutboxMessage
from shared.events import PURGE_HEADER, Event, parse_event

# Subjects JetStream schedules or purges: nothing consumes them as they are published.
_SCHEDULED_PREFIXES = ("sla.timer.", "sla.cancel.")


# Hands one outbox message to the attached services; returns once they have handled it.
Deliver = Callable[[OutboxMessage], Awaitable[None]]


class Attachable(Protocol):
    async def deliver(self, event: Event) -> None: ...

    def use_in_process_bus(self, publish: Deliver) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._services: list[Attachable] = []
        self._one_at_a_time = asyncio.Lock()
        self.delivered = 0

    def attach(self, *services: Attachable) -> None:
        """Have each of ``services`` publish here and receive what any attached service publishes."""
        for service in services:
            service.use_in_process_bus(self.publish)
            self._services.append(service)

    async def publish(self, message: OutboxMessage) -> None:
        if PURGE_HEADER in message.headers or message.subject.startswith(_SCHEDULED_PREFIXES):
            return
        event = parse_event(message.payload)
        async with self._one_at_a_time:
            for service in self._services:
                await service.deliver(event)
            self.delivered += 1
