"""A group of handlers takes its events through one durable, on a real nats-server; where durables
of one subject each ran before, the group's starts where the one furthest behind stopped, and they
are deleted: nothing they had not handled is lost, and nothing they had is handled twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.migrations import history as notify_history
from shared.bus.streams import DOSSIER, MAX_DELIVERIES, ConsumerSpec, max_deliveries_durable
from shared.events import Applicant, DossierAccepted, DossierRefused, Event, utc_now
from shared.nats_server import NatsServer
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import ServiceName
from tests.conftest import eventually
from tests.e2e.test_bus import jetstream, running

RuntimeSettingsFactory = Callable[[ServiceName], RuntimeSettings]
OLD = ("notify__dossier_accepted", "notify__dossier_refused")


def notice(kind: type[DossierAccepted | DossierRefused], code: str) -> Event:
    common = {
        "dossier_code": code,
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "agency_name": "UBND phường Hải Châu",
        "applicant": Applicant(full_name="Nguyễn Văn An", id_number="049090001234"),
        "received_at": utc_now(),
    }
    if kind is DossierAccepted:
        now = utc_now()
        return DossierAccepted(
            **common, accepted_at=now, due_at=now + timedelta(days=7), accepted_by="o", late_acceptance=False
        )
    return DossierRefused(**common, refused_at=utc_now(), refused_by="o", reason="Thiếu tờ khai")


def recording_runtime(settings: RuntimeSettings, *, group: str | None) -> tuple[ServiceRuntime, Table]:
    """A notify runtime whose handlers of ``dossier.accepted`` and ``dossier.refused`` write one row
    per event they handle; in ``group``, or each through its own durable."""
    metadata = MetaData()
    effects = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False),
    )
    runtime = ServiceRuntime("notify", metadata, settings, migrations=notify_history)

    async def create_effects_table() -> None:
        async with runtime.db.engine.begin() as connection:
            await connection.run_sync(effects.create, checkfirst=True)

    async def record(session: AsyncSession, event: Event) -> None:
        await session.execute(effects.insert().values(event_id=str(event.event_id)))

    runtime.on_start(create_effects_table)
    runtime.handle(DossierAccepted, record, group=group)
    runtime.handle(DossierRefused, record, group=group)
    return runtime, effects


async def effects_of(runtime: ServiceRuntime, effects: Table) -> list[str]:
    async with runtime.db.session() as session:
        return [str(row) for row in (await session.execute(select(effects.c.event_id))).scalars()]


async def publish(js: JetStreamContext, event: Event) -> int:
    ack = await js.publish(
        event.subject,
        event.model_dump_json().encode(),
        stream=DOSSIER.name,
        headers={"Nats-Msg-Id": str(event.event_id)},
    )
    return int(ack.seq)


async def test_a_group_takes_over_from_the_durables_of_one_subject_without_loss_or_repeat(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    settings = runtime_settings("notify")
    before, effects = recording_runtime(settings, group=None)
    accepted, refused = notice(DossierAccepted, "HS-1"), notice(DossierRefused, "HS-2")
    async with jetstream(nats_server) as (_, js):
        async with running(before):
            assert {spec.durable for spec in before.consumers} == set(OLD)
            await publish(js, accepted)
            await publish(js, refused)

            async def both_handled() -> None:
                assert sorted(await effects_of(before, effects)) == sorted(
                    [str(accepted.event_id), str(refused.event_id)]
                )

            await eventually(both_handled)
            for durable in OLD:

                async def acknowledged(durable: str = durable) -> None:
                    info = await js.consumer_info(DOSSIER.name, durable)
                    assert info.num_ack_pending == 0 and info.num_pending == 0

                await eventually(acknowledged)
        # While no one reads, one more acceptance waits on its durable. The refusals' durable has
        # nothing left, the acceptances' has: the group starts right after the last acceptance
        # handled, so it hands out the refusal again, which the inbox skips, then the waiting one.
        waiting = notice(DossierAccepted, "HS-3")
        waiting_at = await publish(js, waiting)

        after, _ = recording_runtime(settings, group="dossier")
        [spec] = after.consumers
        assert spec.durable == "notify__dossier" and spec.replaces == OLD
        async with running(after):

            async def all_handled_once() -> None:
                assert sorted(await effects_of(after, effects)) == sorted(
                    str(event.event_id) for event in (accepted, refused, waiting)
                )

            await eventually(all_handled_once)
            info = await js.consumer_info(DOSSIER.name, spec.durable)
            assert info.config.filter_subjects == ["dossier.accepted", "dossier.refused"]
            # The acceptances' durable had handled up to just before the waiting one.
            assert info.config.opt_start_seq == waiting_at - 1
            # The durables it replaced are gone, and their twins.
            for durable in OLD:
                with pytest.raises(NotFoundError):
                    await js.consumer_info(DOSSIER.name, durable)
                with pytest.raises(NotFoundError):
                    await js.consumer_info(MAX_DELIVERIES.name, max_deliveries_durable(durable))

            # Events after the takeover come through the group, once each.
            later = notice(DossierRefused, "HS-4")
            await publish(js, later)

            async def later_handled() -> None:
                assert (await effects_of(after, effects)).count(str(later.event_id)) == 1

            await eventually(later_handled)

        # Started again, the group's durable keeps where it started: nothing is handed out anew.
        again, _ = recording_runtime(settings, group="dossier")
        async with running(again):
            info = await js.consumer_info(DOSSIER.name, spec.durable)
            assert info.config.opt_start_seq == waiting_at - 1
        assert len(await effects_of(again, effects)) == 4


async def test_a_new_group_with_nothing_to_take_over_reads_its_stream_from_the_start(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    early = notice(DossierRefused, "HS-EARLY")
    async with jetstream(nats_server) as (_, js):
        runtime, effects = recording_runtime(runtime_settings("notify"), group="dossier")
        # Streams are declared by the first runtime to start; publish once they are there.
        async with running(runtime):
            await publish(js, early)

            async def handled() -> None:
                assert await effects_of(runtime, effects) == [str(early.event_id)]

            await eventually(handled)
            [spec] = runtime.consumers
            info = await js.consumer_info(DOSSIER.name, spec.durable)
            assert info.config.opt_start_seq in (None, 0)


def test_a_group_keeps_to_one_stream_and_one_scope() -> None:
    with pytest.raises(ValueError, match="one stream"):
        ConsumerSpec(
            service="notify",
            subject="dossier.accepted",
            max_deliver=3,
            ack_wait_seconds=5,
            handler_timeout_seconds=5,
            group="mixed",
            subjects=("dossier.accepted", "alert.overdue"),
        )


async def test_the_handlers_of_a_group_share_one_scope_and_one_concurrency(
    runtime_settings: RuntimeSettingsFactory,
) -> None:
    runtime = ServiceRuntime("notify", MetaData(), runtime_settings("notify"), migrations=notify_history)

    async def record(event: Event) -> None:
        pass

    @asynccontextmanager
    async def other_scope(_session: AsyncSession, _events: Sequence[Event]) -> AsyncIterator[None]:
        yield

    try:
        runtime.handle(DossierAccepted, record, group="dossier", concurrency=2)
        with pytest.raises(ValueError, match="one scope and one concurrency"):
            runtime.handle(DossierRefused, record, group="dossier")
        with pytest.raises(ValueError, match="one scope and one concurrency"):
            runtime.handle(DossierRefused, record, group="dossier", concurrency=2, scope=other_scope)
        runtime.handle(DossierRefused, record, group="dossier", concurrency=2)
        [spec] = runtime.consumers
        assert spec.concurrency == 2 and spec.subjects == ("dossier.accepted", "dossier.refused")
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()
