"""How long a consumer may hold a message, against a real nats-server: a long handler says it is
still at work instead of being handed to another replica, a hung one is cut off and dead-lettered,
and a message whose holders all died without a word is dead-lettered from JetStream's own
max-deliveries advisory, once, by whichever replica of the service takes the advisory."""

from __future__ import annotations

import asyncio
import json

import nats

from shared.bus.dead_letter import list_dead_letters, replay
from shared.bus.streams import DOSSIER, MAX_DELIVERIES, ConsumerSpec, ensure_consumer, ensure_streams
from shared.nats_server import NatsServer
from shared.runtime import RuntimeSettings
from tests.conftest import RuntimeSettingsFactory, eventually
from tests.e2e.test_bus import (
    consumer_runtime,
    dead_letter_count,
    dead_letters,
    jetstream,
    publish_raw,
    running,
    submitted,
)
from tests.system import motcua


def short_holds(settings: RuntimeSettings, **nats: float) -> RuntimeSettings:
    """``settings`` with an ack_wait of a fraction of a second, and whatever else ``nats`` says."""
    settings.nats = settings.nats.model_copy(update={"ack_wait_seconds": 0.3, **nats})
    return settings


async def die_holding_the_next_delivery(server: NatsServer, spec: ConsumerSpec, *, delivery: int) -> None:
    """A replica takes the consumer's next message and is gone without a word, as a killed process."""
    client = await nats.connect(server.url_for())
    try:
        subscription = await client.jetstream().pull_subscribe_bind(spec.durable, stream=spec.stream.name)
        [message] = await subscription.fetch(1, timeout=5)
        assert message.metadata.num_delivered == delivery
    finally:
        await client.close()


async def test_a_handler_that_reports_progress_past_ack_wait_is_not_redelivered(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(short_holds(runtime_settings("notify")))
    consumer.recorder.seconds = 1.5  # five ack waits
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        event = submitted("HS-SLOW")
        await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))

        async def handled() -> None:
            assert await consumer.effects() == [str(event.event_id)]

        await eventually(handled)
        await asyncio.sleep(0.6)  # two more ack waits, for a redelivery to show if there is one

        info = await js.consumer_info(DOSSIER.name, consumer.spec.durable)
        assert info.delivered.consumer_seq == 1, info.delivered
        assert info.num_ack_pending == 0
        assert len(consumer.recorder.calls) == 1
        assert await dead_letter_count(js) == 0


async def test_a_hung_handler_is_cut_off_each_time_and_its_message_dead_lettered(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(short_holds(runtime_settings("notify"), handler_timeout_seconds=0.5))
    consumer.recorder.seconds = 3600.0
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        event = submitted("HS-HUNG")
        await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))

        [letter] = await dead_letters(js, 1)
        assert letter.consumer == consumer.spec.durable
        assert letter.deliveries == consumer.spec.max_deliver == 3
        assert "handler ran past 0.5s" in letter.error
        assert letter.body == event.model_dump_json().encode()
        # Each delivery was cut off by the handler timeout, none taken back by ack_wait meanwhile.
        info = await js.consumer_info(DOSSIER.name, consumer.spec.durable)
        assert info.delivered.consumer_seq == 3
        assert len(consumer.recorder.calls) == 3
        assert await consumer.effects() == []


async def test_a_message_whose_holders_all_died_is_dead_lettered_once_when_the_service_is_back(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    # Two replicas of one service, on one database, not running yet.
    replicas = [consumer_runtime(short_holds(runtime_settings("notify"))) for _ in range(2)]
    spec = replicas[0].spec
    async with jetstream(nats_server) as (_, js):
        await ensure_streams(js)
        await ensure_consumer(js, spec)
        event = submitted("HS-DIED")
        body = event.model_dump_json().encode()
        await publish_raw(js, body, str(event.event_id))
        for delivery in range(1, spec.max_deliver + 1):
            await die_holding_the_next_delivery(nats_server, spec, delivery=delivery)

        # JetStream gives up on it when the consumer is next pulled: when the service is back.
        assert (await js.stream_info(MAX_DELIVERIES.name)).state.messages == 0
        async with running(*(replica.runtime for replica in replicas)):
            [letter] = await dead_letters(js, 1)
            assert (await js.stream_info(MAX_DELIVERIES.name)).state.messages == 1
            assert letter.subject == "dossier.submitted"
            assert letter.consumer == spec.durable
            assert letter.deliveries == spec.max_deliver
            assert "no answer within ack_wait" in letter.error
            assert letter.body == body

            listed = await asyncio.to_thread(
                motcua, "dlq", "list", env={"MOTCUA_NATS_URL": nats_server.url_for()}
            )
            assert listed.returncode == 0, listed.stderr
            [row] = [json.loads(line) for line in listed.stdout.splitlines()]
            assert (row["consumer"], row["deliveries"]) == (spec.durable, spec.max_deliver)

            await asyncio.sleep(0.6)
            assert await dead_letter_count(js) == 1
            assert [replica.recorder.calls for replica in replicas] == [[], []]

            # Replayed, it is handled once, by whichever replica takes it.
            await replay(js, letter)

            async def handled_once() -> None:
                assert await replicas[0].effects() == [str(event.event_id)]

            await eventually(handled_once)
            assert await list_dead_letters(js) == []
