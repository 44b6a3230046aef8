"""The backbone's reliability guarantees, against a real nats-server and a real database.

Each test builds small runtimes of its own: a consumer ("notify") whose handler records its effect in
an ``effects`` table in the same transaction as the inbox row, and, where needed, a producer
("intake") that only writes to its outbox. Each migrates its database as the real service does;
``effects`` is the test's own table beside them. It has a surrogate key, so a handler that runs
twice for one event would show up as two rows instead of failing on a key.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.migrations import history as intake_history
from services.notify.migrations import history as notify_history
from shared.bus.dead_letter import DeadLetter, list_dead_letters, replay
from shared.bus.outbox import Acknowledgement, OutboxMessage
from shared.bus.streams import DEAD_LETTER, DOSSIER, ConsumerSpec
from shared.events import Applicant, DossierSubmitted, utc_now
from shared.migrations import upgrade
from shared.nats_server import NatsServer
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import ServiceName
from tests.conftest import eventually

RuntimeSettingsFactory = Callable[[ServiceName], RuntimeSettings]

SUBJECT = "dossier.submitted"


def submitted(code: str) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_code=code,
        procedure_code="1.000001",
        procedure_version=1,
        agency_code="UBND-X",
        applicant=Applicant(full_name="Nguyễn Văn A", id_number="001090000001"),
        documents=[],
        channel="online",
        submitted_at=utc_now(),
    )


@dataclass
class Recorder:
    """A ``DossierSubmitted`` handler that writes one ``effects`` row, after failing as told and
    after working for ``seconds``."""

    table: Table
    failures_left: int = 0
    always_fail: bool = False
    # The dossier whose event always fails, among others that do not.
    fails_for: str | None = None
    seconds: float = 0.0
    calls: list[tuple[str, float]] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, event: DossierSubmitted) -> None:
        self.calls.append((str(event.event_id), time.monotonic()))
        await asyncio.sleep(self.seconds)
        if self.always_fail or event.dossier_code == self.fails_for:
            raise RuntimeError("handler told to fail")
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("handler fails for now")
        await session.execute(
            self.table.insert().values(event_id=str(event.event_id), dossier_code=event.dossier_code)
        )


@dataclass
class Consumer:
    runtime: ServiceRuntime
    recorder: Recorder
    spec: ConsumerSpec

    async def effects(self) -> list[str]:
        """The event ids of every effect row, duplicates included."""
        table = self.recorder.table
        async with self.runtime.db.session() as session:
            rows = await session.execute(select(table.c.event_id).order_by(table.c.id))
            return [str(event_id) for event_id in rows.scalars()]


def consumer_runtime(settings: RuntimeSettings, recorder: Recorder | None = None) -> Consumer:
    metadata = MetaData()
    table = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False),
        Column("dossier_code", String(100), nullable=False),
    )
    recorder = recorder or Recorder(table)
    recorder.table = table
    runtime = ServiceRuntime("notify", metadata, settings, migrations=notify_history)

    async def create_effects_table() -> None:
        async with runtime.db.engine.begin() as connection:
            await connection.run_sync(table.create, checkfirst=True)

    runtime.on_start(create_effects_table)
    spec = runtime.handle(DossierSubmitted, recorder)
    return Consumer(runtime, recorder, spec)


def producer_runtime(settings: RuntimeSettings) -> ServiceRuntime:
    return ServiceRuntime("intake", MetaData(), settings, migrations=intake_history)


async def write_outbox(runtime: ServiceRuntime, *events: DossierSubmitted) -> None:
    async with runtime.db.session() as session:
        await runtime.outbox.add(session, *events)


async def unsent(runtime: ServiceRuntime) -> int:
    async with runtime.db.session() as session:
        return await runtime.outbox.pending_count(session)


@asynccontextmanager
async def running(*runtimes: ServiceRuntime) -> AsyncIterator[None]:
    started: list[ServiceRuntime] = []
    try:
        for runtime in runtimes:
            started.append(runtime)
            await runtime.start()
        yield
    finally:
        for runtime in reversed(started):
            await runtime.stop()


@asynccontextmanager
async def jetstream(server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    client = await nats.connect(server.url_for())
    try:
        yield client, client.jetstream()
    finally:
        await client.close()


async def publish_raw(js: JetStreamContext, body: bytes, msg_id: str) -> Any:
    return await js.publish(SUBJECT, body, stream=DOSSIER.name, headers={"Nats-Msg-Id": msg_id})


async def stream_messages(js: JetStreamContext) -> int:
    return int((await js.stream_info(DOSSIER.name)).state.messages)


async def dead_letter_count(js: JetStreamContext) -> int:
    return int((await js.stream_info(DEAD_LETTER.name)).state.messages)


async def dead_letters(js: JetStreamContext, count: int) -> list[DeadLetter]:
    """Wait for ``count`` messages in the DLQ stream, then list them."""

    async def arrived() -> None:
        assert await dead_letter_count(js) == count

    await eventually(arrived)
    letters = await list_dead_letters(js)
    assert len(letters) == count, letters
    return letters


async def assert_settled(js: JetStreamContext, spec: ConsumerSpec, *, delivered: int) -> None:
    """The durable has been handed ``delivered`` stream messages and holds none unacknowledged."""
    info = await js.consumer_info(DOSSIER.name, spec.durable)
    assert info.delivered.stream_seq >= delivered, info.delivered
    assert info.num_pending == 0, info
    assert info.num_ack_pending == 0, info


async def test_outbox_holds_events_while_nats_is_down_and_delivers_each_once(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    producer = producer_runtime(runtime_settings("intake"))
    consumer = consumer_runtime(runtime_settings("notify"))
    async with running(consumer.runtime, producer):
        # One event before the outage proves the whole path works before NATS goes away.
        before = submitted("HS-BEFORE")
        await write_outbox(producer, before)

        async def first_arrived() -> None:
            assert await consumer.effects() == [str(before.event_id)]

        await eventually(first_arrived)

        nats_server.stop()
        during = [submitted(f"HS-{index:03d}") for index in range(20)]
        for event in during:
            await write_outbox(producer, event)  # the database alone takes the writes
        assert await unsent(producer) == 20
        await asyncio.sleep(1.0)  # the relay tries, fails and backs off
        nats_server.start()

        expected = sorted([str(before.event_id)] + [str(event.event_id) for event in during])

        async def all_arrived_once() -> None:
            assert sorted(await consumer.effects()) == expected

        await eventually(all_arrived_once, timeout=30)
        assert await unsent(producer) == 0
        async with jetstream(nats_server) as (_, js):
            assert await stream_messages(js) == 21
            await eventually(lambda: assert_settled(js, consumer.spec, delivered=21))
        assert sorted(await consumer.effects()) == expected


async def test_redelivered_event_changes_nothing(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(runtime_settings("notify"))
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        event = submitted("HS-TWICE")
        body = event.model_dump_json().encode()
        # Two Nats-Msg-Ids: JetStream stores both, so the consumer really gets the event twice.
        await publish_raw(js, body, "first-copy")
        await publish_raw(js, body, "second-copy")
        assert await stream_messages(js) == 2

        await eventually(lambda: assert_settled(js, consumer.spec, delivered=2))
        assert await consumer.effects() == [str(event.event_id)]
        assert [call[0] for call in consumer.recorder.calls] == [str(event.event_id)]

        # The same Nats-Msg-Id twice: JetStream keeps one message.
        other = submitted("HS-DEDUP")
        first = await publish_raw(js, other.model_dump_json().encode(), str(other.event_id))
        second = await publish_raw(js, other.model_dump_json().encode(), str(other.event_id))
        assert not first.duplicate
        assert second.duplicate
        assert second.seq == first.seq
        assert await stream_messages(js) == 3

        await eventually(lambda: assert_settled(js, consumer.spec, delivered=3))
        assert await consumer.effects() == [str(event.event_id), str(other.event_id)]


async def test_failing_handler_is_retried_with_delay_then_succeeds(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(runtime_settings("notify"))
    consumer.recorder.failures_left = 2
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        event = submitted("HS-FLAKY")
        await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))

        async def handled() -> None:
            assert await consumer.effects() == [str(event.event_id)]

        await eventually(handled)
        await eventually(lambda: assert_settled(js, consumer.spec, delivered=1))

        times = [at for event_id, at in consumer.recorder.calls if event_id == str(event.event_id)]
        assert len(times) == 3
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # Nacked with retry_delays_seconds = [0.2, 0.4, ...]: never redelivered in a hot loop.
        assert gaps[0] >= 0.15, gaps
        assert gaps[1] >= 0.3, gaps
        assert await dead_letter_count(js) == 0


async def test_poison_message_ends_in_dead_letter_and_replay_works(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(runtime_settings("notify"))
    consumer.recorder.always_fail = True
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        event = submitted("HS-POISON")
        await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))

        [letter] = await dead_letters(js, 1)
        assert letter.subject == SUBJECT
        assert letter.consumer == consumer.spec.durable == "notify__dossier_submitted"
        assert letter.deliveries == 3
        assert "handler told to fail" in letter.error
        assert letter.body == event.model_dump_json().encode()
        assert len(consumer.recorder.calls) == 3
        assert await consumer.effects() == []
        await eventually(lambda: assert_settled(js, consumer.spec, delivered=1))

        consumer.recorder.always_fail = False
        await replay(js, letter)

        async def handled_once() -> None:
            assert await consumer.effects() == [str(event.event_id)]

        await eventually(handled_once)
        assert await dead_letter_count(js) == 0
        assert await list_dead_letters(js) == []
        await eventually(lambda: assert_settled(js, consumer.spec, delivered=2))
        assert await consumer.effects() == [str(event.event_id)]
        assert len(consumer.recorder.calls) == 4


async def inbox_times(consumer: Consumer) -> list[object]:
    table = consumer.runtime.inbox.table
    async with consumer.runtime.db.session() as session:
        rows = await session.execute(
            select(table.c.processed_at).where(table.c.consumer == consumer.spec.durable)
        )
        return list(rows.scalars())


async def test_events_waiting_together_are_applied_together_once_each(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    """Ten events already in the stream when the consumer starts come in one fetch and are applied
    in one transaction: each handled once, their inbox rows written by one statement."""
    producer = producer_runtime(runtime_settings("intake"))
    consumer = consumer_runtime(runtime_settings("notify"))
    events = [submitted(f"HS-BATCH-{index}") for index in range(10)]
    async with running(producer), jetstream(nats_server) as (_, js):
        for event in events:
            await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))
        async with running(consumer.runtime):
            await eventually(lambda: assert_settled(js, consumer.spec, delivered=10))
            assert await consumer.effects() == [str(event.event_id) for event in events]
            assert [call[0] for call in consumer.recorder.calls] == [str(event.event_id) for event in events]
            assert len(set(await inbox_times(consumer))) == 1


async def test_one_failing_event_in_a_batch_holds_up_only_itself(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    """The batch is rolled back and taken one at a time: the others are applied once, and the
    failing one alone is retried and dead-lettered."""
    producer = producer_runtime(runtime_settings("intake"))
    consumer = consumer_runtime(runtime_settings("notify"))
    consumer.recorder.fails_for = "HS-MIXED-2"
    events = [submitted(f"HS-MIXED-{index}") for index in range(5)]
    poison = events[2]
    async with running(producer), jetstream(nats_server) as (_, js):
        for event in events:
            await publish_raw(js, event.model_dump_json().encode(), str(event.event_id))
        async with running(consumer.runtime):
            [letter] = await dead_letters(js, 1)
            assert letter.body == poison.model_dump_json().encode()
            assert letter.deliveries == 3
            await eventually(lambda: assert_settled(js, consumer.spec, delivered=5))
            assert await consumer.effects() == [
                str(event.event_id) for event in events if event is not poison
            ]
            # Those before it ran in the batch that was rolled back, then once more alone.
            calls = [call[0] for call in consumer.recorder.calls]
            assert [calls.count(str(event.event_id)) for event in events] == [2, 2, 4, 1, 1]


async def test_invalid_event_body_is_dead_lettered_at_once(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(runtime_settings("notify"))
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        garbage = b"\x00\xffthis is not an event"
        await publish_raw(js, garbage, f"garbage-{uuid4()}")

        [letter] = await dead_letters(js, 1)
        assert letter.subject == SUBJECT
        assert letter.consumer == consumer.spec.durable
        assert letter.deliveries == 1
        assert "not a valid event" in letter.error
        assert letter.body == garbage
        await eventually(lambda: assert_settled(js, consumer.spec, delivered=1))
        info = await js.consumer_info(DOSSIER.name, consumer.spec.durable)
        assert info.num_redelivered == 0
        assert consumer.recorder.calls == []
        assert await consumer.effects() == []


async def test_outbox_relay_replicas_publish_each_row_once(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    # Two replicas of one service: same database, each with its own relay.
    replicas = [producer_runtime(runtime_settings("intake")) for _ in range(2)]
    published: list[list[str]] = []
    for replica in replicas:
        published.append(count_publishes(replica))
    consumer = consumer_runtime(runtime_settings("notify"))
    async with running(consumer.runtime, *replicas):
        events = [submitted(f"HS-R{index:03d}") for index in range(50)]
        for index, event in enumerate(events):
            await write_outbox(replicas[index % 2], event)
        expected = sorted(str(event.event_id) for event in events)

        async def all_arrived_once() -> None:
            assert sorted(await consumer.effects()) == expected

        await eventually(all_arrived_once, timeout=30)
        assert await unsent(replicas[0]) == 0
        # Nats-Msg-Id dedup would hide a double publish in the stream, so count the relays' publishes.
        assert sorted(published[0] + published[1]) == expected, [len(p) for p in published]
        async with jetstream(nats_server) as (_, js):
            assert await stream_messages(js) == 50
            await eventually(lambda: assert_settled(js, consumer.spec, delivered=50))


def count_publishes(runtime: ServiceRuntime) -> list[str]:
    """Wrap the relay's publish so that the test sees every row it actually published."""
    published: list[str] = []
    original = runtime.relay.publish

    async def publish(message: OutboxMessage) -> Acknowledgement | None:
        acknowledged = await original(message)
        published.append(message.event_id)
        return acknowledged

    runtime.relay.publish = publish
    return published


async def test_listing_an_empty_dead_letter_queue_gives_nothing(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    consumer = consumer_runtime(runtime_settings("notify"))
    async with running(consumer.runtime), jetstream(nats_server) as (_, js):
        assert await dead_letter_count(js) == 0
        # What ``motcua dlq list`` does when nothing ever failed.
        assert await list_dead_letters(js) == []


async def test_retention_deletes_old_sent_outbox_rows_and_old_inbox_rows_only(
    runtime_settings: RuntimeSettingsFactory,
) -> None:
    runtime = producer_runtime(runtime_settings("intake"))
    await upgrade(runtime.db, runtime.migrations)
    now = utc_now()
    long_ago, lately = now - timedelta(days=40), now - timedelta(days=1)
    outbox, inbox = runtime.outbox.table, runtime.inbox.table
    rows = [
        # (event id, created, sent): old and sent, old but never sent, sent lately
        ("old-sent", long_ago, long_ago),
        ("old-unsent", long_ago, None),
        ("new-sent", lately, lately),
    ]
    try:
        async with runtime.db.session() as session:
            for event_id, created_at, sent_at in rows:
                await session.execute(
                    outbox.insert().values(
                        event_id=event_id,
                        subject="dossier.submitted",
                        payload="{}",
                        trace_headers="{}",
                        headers="{}",
                        created_at=created_at,
                        sent_at=sent_at,
                        attempts=1,
                    )
                )
            for event_id, processed_at in (("old", long_ago), ("new", lately)):
                await session.execute(
                    inbox.insert().values(consumer="c", event_id=event_id, processed_at=processed_at)
                )

        wait = await runtime.pruner.prune()

        async with runtime.db.reading() as session:
            kept_outbox = set((await session.execute(select(outbox.c.event_id))).scalars())
            kept_inbox = set((await session.execute(select(inbox.c.event_id))).scalars())
        assert kept_outbox == {"old-unsent", "new-sent"}  # what was never sent is never lost
        assert kept_inbox == {"new"}
        assert wait == runtime.settings.retention.interval_seconds
    finally:
        await runtime.db.dispose()
