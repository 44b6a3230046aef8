"""SLA timers stay right whatever the replicas do: two relays racing over many changes of the same
dossiers leave exactly each dossier's newest timers armed, and a relay whose commit failed after it
published loses no re-arm when it publishes again. What is armed is read from the SLA stream itself
(per subject, the last message's revision and moment) and compared with each dossier's plan."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import nats
from nats.js import JetStreamContext

from services.processing import actions, citizen_requests, sla, sla_reconcile
from services.processing.app import create_app as create_processing
from services.processing.catalog import procedure_of
from services.processing.commands import Accept, Claim, Command, Forward, Reject, RequestSupplement
from services.processing.models import Dossier
from services.processing.settings import SlaSettings
from services.processing.steps import steps_of
from services.processing.working_calendar import calendar_of
from shared.bus.outbox import Acknowledgement, OutboxMessage
from shared.bus.streams import SLA
from shared.events import (
    Applicant,
    DossierSubmitted,
    DossierSupplementProvided,
    SlaTimer,
    parse_event,
    subject_token,
    timer_subjects,
    utc_now,
)
from shared.nats_server import NatsServer
from shared.runtime import ServiceRuntime
from shared.settings import OutboxSettings
from shared.staff import Staff
from tests.conftest import RuntimeSettingsFactory, eventually

PROCEDURE = "1.001193"  # working days: nothing fires while the test runs
ADMINS = [
    Staff(username=name, role="admin", agency_code=None, unit_code=None)
    for name in ("demo-admin", "second-admin")
]
Action = Callable[[ServiceRuntime, str, int], Awaitable[Any]]


async def started(
    settings: RuntimeSettingsFactory, *, batch_size: int = 200, reconcile_every: float = 600.0
) -> ServiceRuntime:
    """A processing replica; small batches make two relays' turns interleave often."""
    runtime_settings = settings("processing")
    runtime_settings.outbox = OutboxSettings(idle_poll_seconds=0.2, batch_size=batch_size)
    app = create_processing(
        runtime_settings, sla_settings=SlaSettings(reconcile_interval_seconds=reconcile_every)
    )
    runtime: ServiceRuntime = app.state.runtime
    await runtime.start()
    await eventually(lambda: _assert(runtime.bus_up))
    return runtime


def _assert(condition: bool) -> None:
    assert condition


def with_latency(runtime: ServiceRuntime, rng: random.Random) -> None:
    """Replicas reach NATS with latencies of their own: each publish waits up to 3 ms first."""
    original = runtime.relay.publish

    async def publish(message: OutboxMessage) -> Acknowledgement | None:
        await asyncio.sleep(rng.random() * 0.003)
        return await original(message)

    runtime.relay.publish = publish


@asynccontextmanager
async def jetstream(server: NatsServer) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(server.url_for())
    try:
        yield connection.jetstream()
    finally:
        await connection.close()


async def register(runtime: ServiceRuntime, code: str) -> None:
    async with runtime.db.session() as session:
        await citizen_requests.register(
            session,
            event=DossierSubmitted(
                dossier_code=code,
                procedure_code=PROCEDURE,
                procedure_version=1,
                agency_code="000.00.06.H56",
                applicant=Applicant(full_name="Nguyễn Văn An", id_number="049090001234"),
                documents=[],
                channel="online",
                submitted_at=utc_now(),
            ),
        )


async def act(runtime: ServiceRuntime, code: str, action: str, turn: int) -> None:
    actor = ADMINS[turn % 2]
    async with runtime.db.session() as session:
        outbox = runtime.outbox
        commands: dict[str, Command] = {
            "accept": Accept(code=code),
            "claim": Claim(code=code),
            "forward": Forward(code=code),
            "supplement": RequestSupplement(code=code, reason="Thiếu tờ khai", items=["Tờ khai"]),
            "reject": Reject(code=code, reason="Hồ sơ không hợp lệ"),
        }
        if action == "provided":
            event = DossierSupplementProvided(dossier_code=code, documents=[], provided_at=utc_now())
            await citizen_requests.supplement_provided(session, outbox, event=event)
        else:
            await actions.execute(session, outbox, actor=actor, command=commands[action])


# Each claim alternates between two admins, so that each is a change; the endings differ by dossier:
# still running, waiting for a supplement (no timers), rejected (no timers).
ROUNDS = ["claim", "forward", "claim", "supplement", "provided", "claim", "claim", "forward", "claim"]
ENDINGS = [["supplement", "provided", "claim"], ["supplement"], ["reject"]]


async def drained(runtime: ServiceRuntime) -> None:
    async def check() -> None:
        async with runtime.db.reading() as session:
            assert await runtime.outbox.pending_count(session) == 0

    await eventually(check, timeout=30)


async def armed_timers(js: JetStreamContext, code: str) -> dict[str, tuple[int, datetime]]:
    """Per timer subject of ``code`` in the SLA stream: the last message's revision and moment."""
    info = await js.stream_info(SLA.name, subjects_filter=f"sla.timer.{subject_token(code)}.>")
    found: dict[str, tuple[int, datetime]] = {}
    for subject in info.state.subjects or {}:
        timer = parse_event((await js.get_last_msg(SLA.name, subject)).data or b"")
        assert isinstance(timer, SlaTimer)
        found[subject] = (timer.version, timer.fire_at)
    return found


async def planned_timers(runtime: ServiceRuntime, code: str) -> dict[str, tuple[int, datetime]]:
    """What the dossier's state calls for now, at its revision."""
    async with runtime.db.reading() as session:
        dossier = await session.get(Dossier, code)
        assert dossier is not None
        step = None
        if dossier.current_step_index is not None:
            steps = await steps_of(session, code)
            step = next(item for item in steps if item.step_index == dossier.current_step_index)
        procedure = await procedure_of(session, dossier)
        timers = sla.plan(
            dossier=dossier,
            step=step,
            procedure=procedure,
            calendar=await calendar_of(session, procedure),
            now=dossier.last_action_at or utc_now(),
        )
        return {timer.subject: (dossier.revision, timer.fire_at) for timer in timers}


async def assert_newest_timers_armed(runtime: ServiceRuntime, js: JetStreamContext, codes: list[str]) -> None:
    for code in codes:
        assert await armed_timers(js, code) == await planned_timers(runtime, code), code


async def test_two_relays_racing_over_many_changes_leave_exactly_the_newest_timers_armed(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    replicas = [await started(runtime_settings, batch_size=6) for _ in range(2)]
    for number, replica in enumerate(replicas):
        with_latency(replica, random.Random(number))
    try:
        codes = [f"000.00.06.H56-261202-{number:04d}" for number in range(1, 13)]
        for code in codes:
            await register(replicas[0], code)

        scripts = [["accept", *ROUNDS, *ENDINGS[index % len(ENDINGS)]] for index in range(len(codes))]

        # A few dossiers at a time: enough to race, without taking every connection of a shared server.
        at_once = asyncio.Semaphore(4)

        async def work(index: int, code: str, turns: range) -> None:
            async with at_once:
                for turn in turns:
                    # Each change commits on one replica or the other, waking that replica's relay.
                    await act(replicas[(index + turn) % 2], code, scripts[index][turn], turn)
                    await asyncio.sleep(0)

        # First while both relays run, then into a backlog that both take on at once.
        half = len(ROUNDS) // 2
        await asyncio.gather(*(work(index, code, range(half)) for index, code in enumerate(codes)))
        for replica in replicas:
            await replica.relay.stop()
        for index, code in enumerate(codes):
            # One dossier after the other: a claim writes 6 rows, as many as a batch, so that two
            # arms of one dossier's timers land in the two relays' batches side by side.
            await work(index, code, range(half, len(scripts[index])))
        for replica in replicas:
            replica.relay.start()
        await drained(replicas[0])
        async with jetstream(nats_server) as js:
            await assert_newest_timers_armed(replicas[0], js, codes)
            for code in codes[::3]:  # still running, not yet due: near due, due and stalled for the
                # step, near due and due for the dossier (no escalation before the due time)
                assert len(await armed_timers(js, code)) == 5
            for code in codes[1::3] + codes[2::3]:
                assert await armed_timers(js, code) == {}
    finally:
        for replica in replicas:
            await replica.stop()


async def test_a_relay_that_published_before_its_commit_failed_loses_no_re_arm(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    runtime = await started(runtime_settings)
    try:
        code = "000.00.06.H56-261202-0100"
        await register(runtime, code)
        await act(runtime, code, "accept", 0)
        await drained(runtime)
        # While the relay is stopped, the timers are purged and armed again, and the step moves on.
        await runtime.relay.stop()
        for turn, action in enumerate(["claim", "forward", "supplement", "provided", "claim"], start=1):
            await act(runtime, code, action, turn)

        published: list[str] = []
        original_publish, original_record = runtime.relay.publish, runtime.relay._record
        failures: list[int] = []

        async def publish(message: OutboxMessage) -> Acknowledgement | None:
            acknowledged = await original_publish(message)
            published.append(message.event_id)
            return acknowledged

        async def record(*args: Any) -> None:
            if not failures:
                failures.append(1)
                raise ConnectionError("the database went away before the relay recorded what it sent")
            await original_record(*args)

        runtime.relay.publish = publish
        runtime.relay._record = record  # type: ignore[method-assign]
        runtime.relay.start()
        await drained(runtime)
        assert failures == [1]
        assert len(published) > len(set(published))  # the batch went out a second time
        async with jetstream(nats_server) as js:
            await assert_newest_timers_armed(runtime, js, [code])
            assert len(await armed_timers(js, code)) == 5
    finally:
        await runtime.stop()


async def check(runtime: ServiceRuntime, js: JetStreamContext) -> int:
    """One reconcile pass against what the SLA stream holds now; how many dossiers it re-armed."""
    return await sla_reconcile.reconcile(runtime.db, runtime.outbox, armed=await sla_reconcile.read_armed(js))


async def test_reconciling_re_arms_only_the_open_dossiers_whose_timers_are_missing_and_runs_periodically(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    runtime = await started(runtime_settings, reconcile_every=0.5)
    try:
        codes = [f"000.00.06.H56-261202-{number:04d}" for number in range(200, 204)]
        for code in codes:
            await register(runtime, code)
            await act(runtime, code, "accept", 0)
        await act(runtime, codes[3], "reject", 1)  # closed: never re-armed
        await drained(runtime)
        async with jetstream(nats_server) as js:
            # Everything armed as planned: a pass re-arms nothing.
            assert (
                await sla_reconcile.reconcile(
                    runtime.db, runtime.outbox, armed=await sla_reconcile.read_armed(js)
                )
                == 0
            )

            # Timers lost from the stream (an operator's purge, a stream restored from a backup).
            lost, moved = codes[0], codes[1]
            await js.purge_stream(SLA.name, subject=timer_subjects(lost))
            # The periodic pass finds and re-arms them.
            await eventually(lambda: assert_newest_timers_armed(runtime, js, [lost]), timeout=10)

            # A timer of an older revision left on its subject counts as stale.
            async with runtime.db.session() as session:
                dossier = await session.get(Dossier, moved)
                assert dossier is not None
                dossier.revision += 1
            assert (
                await sla_reconcile.reconcile(
                    runtime.db, runtime.outbox, armed=await sla_reconcile.read_armed(js)
                )
                == 1
            )
            await drained(runtime)
            await assert_newest_timers_armed(runtime, js, codes)
    finally:
        await runtime.stop()
