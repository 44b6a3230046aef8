"""The SLA timers' safety net: what the SLA stream holds is compared, now and then, with what every
open dossier's state calls for, and the dossiers whose timers are missing or stale are armed again.

Cheap by design: one ordered, headers-only read of the stream's last message per subject (each
timer carries its revision in a header, which the server copies onto the fired message), then one
read of the open dossiers with their running step, in batches. Only the dossiers found wanting are
locked and re-armed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.catalog import procedure_of
from services.processing.models import Dossier, DossierStep
from services.processing.settings import SlaSettings
from services.processing.sla import plan, rearm
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
    utc_now,
)
from shared.runtime import ServiceRuntime
from shared.worker import BackgroundWorker
from shared.working_time import WorkingCalendar

logger = logging.getLogger(__name__)

# Dossiers re-armed per transaction: a lost SLA stream means re-arming every open dossier.
REARM_BATCH = 100


@dataclass(frozen=True)
class ArmedOnBus:
    """What the SLA stream holds: per timer subject, the revision and schedule of its message; per
    fired subject, the revision of the last timer that fired there (a fired one-shot schedule leaves
    its timer subject)."""

    timers: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    fired: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, headers: dict[str, dict[str, str]]) -> ArmedOnBus:
        timers: dict[str, tuple[int | None, str | None]] = {}
        fired: dict[str, int | None] = {}
        for subject, values in headers.items():
            version = _revision(values.get(VERSION_HEADER))
            if subject.startswith("sla.timer."):
                timers[subject] = (version, values.get("Nats-Schedule"))
            elif subject.startswith("sla.fired."):
                fired[subject] = version
        return cls(timers=timers, fired=fired)

    def holds(self, timer: SlaTimer, *, revision: int | None = None) -> bool:
        """``timer`` is armed as planned at ``revision`` (by default its own), or has fired at it."""
        revision = timer.version if revision is None else revision
        schedule = timer.bus_headers()["Nats-Schedule"]
        return self.timers.get(timer.subject) == (revision, schedule) or (
            self.fired.get(timer.target) == revision
        )


def _revision(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


async def read_armed(js: JetStreamContext) -> ArmedOnBus:
    """What the SLA stream holds now, read from the last message's headers on each of its subjects."""
    return ArmedOnBus.from_headers(await last_headers_by_subject(js, SLA.name, "sla.>"))


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
    after = ""
    clocks = _Clocks()
    open_statuses = [int(status) for status in IN_PROGRESS]
    while True:
        async with db.reading() as session:
            statement = (
                select(Dossier, DossierStep)
                .outerjoin(
                    DossierStep,
                    (col(DossierStep.dossier_code) == col(Dossier.code))
                    & (col(DossierStep.step_index) == col(Dossier.current_step_index)),
                )
                .where(col(Dossier.status).in_(open_statuses), Dossier.code > after)
                .order_by(col(Dossier.code))
                .limit(batch)
            )
            rows = (await session.exec(statement)).all()
            if not rows:
                return rearmed
            now = utc_now()
            due: list[str] = []
            for dossier, step in rows:
                if armed is not None:
                    procedure, calendar = await clocks.of(session, dossier)
                    # Stalled runs from the last action, as when the change armed it.
                    planned = plan(
                        dossier=dossier,
                        step=step,
                        procedure=procedure,
                        calendar=calendar,
                        now=dossier.last_action_at or now,
                    )
                    if all(armed.holds(timer, revision=dossier.revision) for timer in planned):
                        continue
                due.append(dossier.code)
            after = rows[-1][0].code
        for start in range(0, len(due), REARM_BATCH):
            rearmed += await _rearm(
                db, outbox, codes=due[start : start + REARM_BATCH], clocks=clocks, open_statuses=open_statuses
            )


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
                session,
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
