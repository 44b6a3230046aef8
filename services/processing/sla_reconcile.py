"""The SLA timers' safety net: what the SLA stream holds is compared, now and then, with what every
open dossier's state calls for, and the dossiers whose timers are missing or stale are armed again.

Cheap by design: one ordered, headers-only read of the stream's last message per subject (each
timer carries its revision in a header, which the server copies onto the fired message), kept as
hashes, then one read of the open dossiers with their running step, a page at a time. Only the
dossiers found wanting are locked and re-armed.
"""

from __future__ import annotations

import logging
import time
from array import array
from bisect import bisect_left
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.catalog import procedure_of
from services.processing.models import Dossier, DossierStep
from services.processing.settings import SlaSettings
from services.processing.sla import PlannedTimer, rearm, schedule
from services.processing.working_calendar import calendar_of
from shared.bus.outbox import Outbox
from shared.bus.streams import SLA, last_headers_by_subject
from shared.db import Database
from shared.events import (
    IN_PROGRESS,
    VERSION_HEADER,
    ProcedureVersion,
    SlaTimer,
    SlaTimersCancelled,
    subject_token,
    timer_slot,
    utc_now,
)
from shared.runtime import ServiceRuntime
from shared.worker import BackgroundWorker
from shared.working_time import WorkingCalendar

logger = logging.getLogger(__name__)

# The dossier's columns no SLA plan reads, left unread by the check.
_NOT_PLANNED: tuple[QueryableAttribute[Any], ...] = tuple(
    getattr(Dossier, name)
    for name in (
        "applicant",
        "documents",
        "result",
        "supplement_items",
        "refusal_reason",
        "rejection_reason",
        "rating_reason",
        "sla_slots",
    )
)

# Dossiers re-armed per transaction: a lost SLA stream means re-arming every open dossier.
REARM_BATCH = 100


@dataclass(frozen=True)
class ArmedOnBus:
    """What the SLA stream holds, kept small enough for every open dossier's timers: per timer
    subject, its revision and moment; per fired subject, the revision of the last timer that fired
    there (a fired one-shot schedule leaves its timer subject).

    Each is kept as the 64-bit hash of its (subject, revision, moment), in a sorted array: 8 bytes a
    timer instead of a dict of strings. Two different timers share a hash with odds of about n in
    2**64 for n timers held, where the cost of a false match is a timer not re-armed until the dossier
    next changes. String hashes are salted per process, so an ``ArmedOnBus`` is only ever read by the
    process that made it."""

    timers: array[int] = field(default_factory=lambda: array("q"))
    fired: array[int] = field(default_factory=lambda: array("q"))

    @classmethod
    def from_headers(cls, messages: Iterable[tuple[str, Mapping[str, str]]]) -> ArmedOnBus:
        """From the last message's subject and headers on each subject of the stream."""
        collected = _Collected()
        for subject, headers in messages:
            collected.add(subject, headers)
        return collected.armed()

    @classmethod
    async def read(cls, messages: AsyncIterable[tuple[str, Mapping[str, str]]]) -> ArmedOnBus:
        """As ``from_headers``, from messages as they arrive."""
        collected = _Collected()
        async for subject, headers in messages:
            collected.add(subject, headers)
        return collected.armed()

    def holds(self, timer: SlaTimer, *, revision: int | None = None) -> bool:
        """``timer`` is armed as planned at ``revision`` (by default its own), or has fired at it."""
        planned = PlannedTimer(timer.level, timer.step_index, timer.kind, timer.rung, timer.fire_at)
        return self.holds_planned(
            subject_token(timer.dossier_code),
            planned,
            revision=timer.version if revision is None else revision,
        )

    def holds_planned(self, token: str, timer: PlannedTimer, *, revision: int) -> bool:
        """As ``holds``, for a timer ``schedule`` planned for the dossier whose subject token is ``token``."""
        suffix = _suffix(token, timer)
        return _has(self.timers, hash((suffix, revision, _schedule_ms(timer.fire_at)))) or _has(
            self.fired, hash((suffix, revision))
        )


def _suffix(token: str, timer: PlannedTimer) -> str:
    """The timer's subject after ``sla.timer.`` or ``sla.fired.``: its dossier, then its slot."""
    return f"{token}.{timer_slot(timer.level, timer.kind, timer.rung)}"


_TIMER_PREFIX = "sla.timer."
_FIRED_PREFIX = "sla.fired."
_SCHEDULE_AT = "@at "
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _schedule_ms(moment: datetime) -> int:
    """``moment`` in Unix milliseconds, rounded up as ``SlaTimer.bus_headers`` rounds the schedule."""
    return -(-((moment - _EPOCH) // _MICROSECOND) // 1000)


def _has(hashes: array[int], key: int) -> bool:
    at = bisect_left(hashes, key)
    return at < len(hashes) and hashes[at] == key


@dataclass
class _Collected:
    """The stream's messages, hashed as they are read, so that the whole stream's headers are never
    held at once."""

    timers: array[int] = field(default_factory=lambda: array("q"))
    fired: array[int] = field(default_factory=lambda: array("q"))

    def add(self, subject: str, headers: Mapping[str, str]) -> None:
        revision = _revision(headers.get(VERSION_HEADER))
        if revision is None:
            return  # not at any revision: holds nothing
        if subject.startswith(_TIMER_PREFIX):
            moment = _moment(headers.get("Nats-Schedule"))
            if moment is not None:
                self.timers.append(hash((subject[len(_TIMER_PREFIX) :], revision, _schedule_ms(moment))))
        elif subject.startswith(_FIRED_PREFIX):
            self.fired.append(hash((subject[len(_FIRED_PREFIX) :], revision)))

    def armed(self) -> ArmedOnBus:
        return ArmedOnBus(timers=array("q", sorted(self.timers)), fired=array("q", sorted(self.fired)))


def _revision(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _moment(schedule: str | None) -> datetime | None:
    if schedule is None or not schedule.startswith(_SCHEDULE_AT):
        return None
    try:
        moment = datetime.fromisoformat(schedule[len(_SCHEDULE_AT) :])
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def read_armed(js: JetStreamContext) -> ArmedOnBus:
    """What the SLA stream holds now, read from the last message's headers on each of its subjects."""
    collected = _Collected()
    await last_headers_by_subject(js, SLA.name, "sla.>", each=collected.add)
    return collected.armed()


@dataclass
class _Clocks:
    """Each procedure version's rules and calendar, read once per pass."""

    known: dict[tuple[str, int], tuple[ProcedureVersion, WorkingCalendar]] = field(default_factory=dict)

    async def of(self, session: AsyncSession, dossier: Dossier) -> tuple[ProcedureVersion, WorkingCalendar]:
        key = (dossier.procedure_code, dossier.procedure_version)
        if key not in self.known:
            procedure = await procedure_of(session, dossier)
            self.known[key] = (procedure, await calendar_of(session, procedure))
        return self.known[key]


async def reconcile(
    db: Database, outbox: Outbox, *, armed: ArmedOnBus | None = None, batch: int = 500
) -> int:
    """Re-arm the open dossiers whose timers ``armed`` (what the SLA stream holds) lacks or holds at
    another revision or moment; every open dossier when ``armed`` is not known. Returns how many.

    Harmless when two replicas run it at once: each re-arm locks its dossier and arms what its state
    calls for then, so the later of two identical arms replaces the earlier."""
    rearmed = 0
    clocks = _Clocks()
    open_statuses = [int(status) for status in IN_PROGRESS]
    # One status at a time, in code order, so that each page is read from ``ix_dossier_status_code``
    # as it stands. A dossier that changes status during the pass may be seen twice or not at all:
    # its change armed its timers anyway.
    for status in open_statuses:
        after = ""
        while True:
            async with db.reading() as session:
                statement = (
                    select(Dossier, DossierStep)
                    .outerjoin(
                        DossierStep,
                        (col(DossierStep.dossier_code) == col(Dossier.code))
                        & (col(DossierStep.step_index) == col(Dossier.current_step_index)),
                    )
                    .where(col(Dossier.status) == status, col(Dossier.code) > after)
                    .order_by(col(Dossier.code))
                    .limit(batch)
                    # What the plan never reads stays in the database: decoding every dossier's
                    # applicant and documents was a tenth of the pass.
                    .options(*(defer(column, raiseload=True) for column in _NOT_PLANNED))
                )
                rows = (await session.exec(statement)).all()
                if not rows:
                    break
                due = await _wanting(session, rows, armed=armed, clocks=clocks)
                after = rows[-1][0].code
            for start in range(0, len(due), REARM_BATCH):
                rearmed += await _rearm(
                    db,
                    outbox,
                    codes=due[start : start + REARM_BATCH],
                    clocks=clocks,
                    open_statuses=open_statuses,
                )
    return rearmed


async def _wanting(
    session: AsyncSession,
    rows: Sequence[tuple[Dossier, DossierStep | None]],
    *,
    armed: ArmedOnBus | None,
    clocks: _Clocks,
) -> list[str]:
    """The codes of the dossiers among ``rows`` whose planned timers ``armed`` does not all hold."""
    if armed is None:
        return [dossier.code for dossier, _step in rows]
    now = utc_now()
    due: list[str] = []
    for dossier, step in rows:
        procedure, calendar = await clocks.of(session, dossier)
        # Stalled runs from the last action, as when the change armed it.
        planned = schedule(
            dossier=dossier,
            step=step,
            procedure=procedure,
            calendar=calendar,
            now=dossier.last_action_at or now,
        )
        token = subject_token(dossier.code)
        if not all(armed.holds_planned(token, timer, revision=dossier.revision) for timer in planned):
            due.append(dossier.code)
    return due


async def _rearm(
    db: Database, outbox: Outbox, *, codes: list[str], clocks: _Clocks, open_statuses: list[int]
) -> int:
    """Arm these dossiers' timers again, under their locks (taken in code order, as every batch takes
    them), for the states they are in now; returns how many were still open."""
    async with db.session() as session:
        statement = (
            select(Dossier)
            .where(col(Dossier.code).in_(codes), col(Dossier.status).in_(open_statuses))
            .order_by(col(Dossier.code))
            .with_for_update()
        )
        dossiers = list((await session.exec(statement)).all())
        locked = [row.code for row in dossiers]
        step_rows = await session.exec(select(DossierStep).where(col(DossierStep.dossier_code).in_(locked)))
        steps = {(step.dossier_code, step.step_index): step for step in step_rows.all()}
        events: list[SlaTimersCancelled | SlaTimer] = []
        for dossier in dossiers:
            procedure, calendar = await clocks.of(session, dossier)
            index = dossier.current_step_index
            events += rearm(
                dossier=dossier,
                step=None if index is None else steps.get((dossier.code, index)),
                procedure=procedure,
                calendar=calendar,
                now=dossier.last_action_at or utc_now(),
            )
        await outbox.add(session, *events)
        return len(dossiers)


class Reconciler:
    """Checks what the SLA stream holds against the open dossiers: soon after the bus comes up,
    then every ``reconcile_interval_seconds``."""

    def __init__(self, runtime: ServiceRuntime, *, settings: SlaSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.worker = BackgroundWorker("sla-reconcile", self.reconcile_pass)

    async def reconcile_pass(self) -> float:
        if not self.runtime.bus_up:
            return self.settings.bus_wait_seconds
        began = time.perf_counter()
        armed = await read_armed(self.runtime.broker.config.connection_state.stream)
        rearmed = await reconcile(self.runtime.db, self.runtime.outbox, armed=armed)
        logger.info(
            "SLA timers checked in %.1f s: %d open dossier(s) re-armed", time.perf_counter() - began, rearmed
        )
        return self.settings.reconcile_interval_seconds
