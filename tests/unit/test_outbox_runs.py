"""The outbox relay writes a pass's messages in outbox order, awaits their acknowledgements
together, and makes a purge's API call once its marker is acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from sqlalchemy import MetaData

from shared.bus.outbox import Acknowledgement, FollowUp, Outbox, OutboxMessage, OutboxRelay, outbox_table
from shared.events import PURGE_HEADER


def message(number: int, *, purge: bool = False, subject: str | None = None) -> OutboxMessage:
    headers = {PURGE_HEADER: "sla.timer.X.>"} if purge else {}
    return OutboxMessage(
        id=number,
        event_id=str(number),
        subject=subject or f"s.{number}",
        payload=b"{}",
        trace_headers={},
        headers=headers,
    )


class Bus:
    """Records what the relay does, in order; acknowledgements come back in reverse order, and
    a message's acknowledgement or a marker's purge fails when told."""

    def __init__(self, *, failing_ack: int | None = None, failing_purge: int | None = None) -> None:
        self.log: list[str] = []
        self.failing_ack = failing_ack
        self.failing_purge = failing_purge

    async def publish(self, item: OutboxMessage) -> Acknowledgement | None:
        self.log.append(f"write {item.id}")
        return self._acknowledged(item)

    async def _acknowledged(self, item: OutboxMessage) -> FollowUp | None:
        await asyncio.sleep(0.01 * (10 - item.id))
        if item.id == self.failing_ack:
            raise TimeoutError("no acknowledgement")
        self.log.append(f"ack {item.id}")
        if PURGE_HEADER not in item.headers:
            return None

        async def purge() -> None:
            if item.id == self.failing_purge:
                raise ConnectionError("NATS went away")
            self.log.append(f"purge {item.id}")

        return purge


def relay(bus: Bus) -> OutboxRelay:
    return OutboxRelay(cast(Any, None), Outbox(outbox_table(MetaData())), bus.publish)


async def test_messages_are_written_in_order_and_purges_follow_their_acknowledgements() -> None:
    bus = Bus()
    messages = [
        message(1, subject="sla.timer.A.step.0.due.0"),
        message(2, purge=True),
        message(3, subject="sla.timer.A.step.0.due.0"),
        message(4, purge=True),
    ]

    sent, error = await relay(bus)._publish_all(messages)

    assert (sent, error) == ([1, 2, 3, 4], None)
    assert bus.log[:4] == ["write 1", "write 2", "write 3", "write 4"]
    # Every acknowledgement is in before any purge is made.
    assert sorted(bus.log[4:8]) == ["ack 1", "ack 2", "ack 3", "ack 4"]
    assert bus.log[8:] == ["purge 2", "purge 4"]


async def test_what_follows_an_unacknowledged_message_is_left_for_the_next_pass() -> None:
    bus = Bus(failing_ack=2)

    sent, error = await relay(bus)._publish_all([message(1), message(2), message(3)])

    assert sent == [1]
    assert error is not None and "no acknowledgement" in error


async def test_a_failed_purge_leaves_its_marker_and_what_follows_for_the_next_pass() -> None:
    bus = Bus(failing_purge=3)
    messages = [message(1), message(2, purge=True), message(3, purge=True), message(4)]

    sent, error = await relay(bus)._publish_all(messages)

    assert sent == [1, 2]
    assert error is not None and "NATS went away" in error
