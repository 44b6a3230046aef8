"""Taking a pull consumer's messages against a real nats-server: what the consumer has comes at
once, up to the batch, and a lone message on a quiet consumer comes as soon as it is published,
never held back to fill a batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext

from shared.bus.pulling import Puller
from shared.nats_server import NatsServer

STREAM, DURABLE = "PULLING", "pulling"


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    client = await nats.connect(nats_server.url_for())
    js = client.jetstream()
    await js.add_stream(name=STREAM, subjects=["pulling.>"])
    await js.add_consumer(STREAM, ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT))
    try:
        yield client, js
    finally:
        await client.close()


@pytest.fixture
async def puller(bus: tuple[NatsClient, JetStreamContext]) -> AsyncIterator[Puller]:
    client, _ = bus
    puller = Puller(client, stream=STREAM, durable=DURABLE, inbox_prefix="_INBOX")
    await puller.start()
    try:
        yield puller
    finally:
        await puller.stop()


async def publish(js: JetStreamContext, *bodies: str) -> None:
    for body in bodies:
        await js.publish("pulling.event", body.encode(), stream=STREAM)


async def test_what_the_consumer_has_is_taken_at_once_up_to_the_batch(
    bus: tuple[NatsClient, JetStreamContext], puller: Puller
) -> None:
    _, js = bus
    await publish(js, *(f"m{number}" for number in range(15)))
    async with asyncio.timeout(10):  # far below the wait: nothing waits to fill a batch
        first = await puller.take(batch=10, wait=60)
        second = await puller.take(batch=10, wait=60)
    assert [message.data.decode() for message in first + second] == [f"m{number}" for number in range(15)]
    assert len(first) == 10
    for message in first + second:
        await message.ack()


async def test_a_lone_message_on_a_quiet_consumer_is_taken_as_soon_as_it_comes(
    bus: tuple[NatsClient, JetStreamContext], puller: Puller
) -> None:
    _, js = bus
    waiting = asyncio.create_task(puller.take(batch=10, wait=60))
    await asyncio.sleep(0.3)  # the take is waiting on the server by now
    assert not waiting.done()
    await publish(js, "alone")
    async with asyncio.timeout(10):  # far below the wait: the batch of 10 is not waited for
        [message] = await waiting
    assert message.data == b"alone"
    await message.ack()
    # The next take finds the consumer empty again and waits for the next message.
    again = asyncio.create_task(puller.take(batch=10, wait=60))
    await publish(js, "next")
    async with asyncio.timeout(10):
        assert [message.data for message in await again] == [b"next"]


async def test_a_take_on_a_quiet_consumer_times_out_after_its_wait_and_the_next_one_still_works(
    bus: tuple[NatsClient, JetStreamContext], puller: Puller
) -> None:
    _, js = bus
    with pytest.raises(TimeoutError):
        await puller.take(batch=10, wait=0.3)
    await publish(js, "later")
    async with asyncio.timeout(10):
        taken = await puller.take(batch=10, wait=60)
    assert [message.data for message in taken] == [b"later"]
    assert taken[0].metadata.num_delivered == 1
