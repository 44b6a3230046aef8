"""SLA watch: the timers a dossier's state calls for, and what happens when one fires.

Timers are NATS scheduled messages (see ``shared.events.SlaTimer``). Every change of a dossier drops
its armed timers and arms the ones its new state calls for, through the outbox, in the same
transaction as the change; each timer carries the dossier's revision. When one fires, a timer whose
revision is no longer the dossier's is stale and dropped. A live one raises its alert once, guarded by
a claim row per (dossier, step, kind, rung). There is no polling loop: on start, one pass re-arms the
timers of every open dossier, in case timers were lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import domain
from services.processing.catalog import procedure_of
from services.processing.directory import calendar_of
from services.processing.models import Dossier, DossierStep, Person, SlaClaim
from shared.bus.outbox import Outbox
from shared.db import Database, insert_ignoring_duplicates
from shared.events import (
    AlertEscalated,
    AlertNearDue,
    AlertOverdue,
    AlertRecipient,
    AlertStalled,
    DossierStatus,
    ProcedureVersion,
    SlaAlert,
    SlaTimer,
    SlaTimersCancelled,
    utc_now,
)
from shared.working_time import CalendarMode, WorkingCalendar

logger = logging.getLogger(__name__)

# DESIGN: near due when 20 % of the allotment or 4 working hours remain, whichever is less.
NEAR_DUE_SHARE = 0.2
NEAR_DUE_MAX_HOURS = 4.0
DOSSIER_LEVEL = -1


def near_due_hours(allotted_hours: float) -> float:
    return min(NEAR_DUE_SHARE * allotted_hours, NEAR_DUE_MAX_HOURS)


def _before(calendar: WorkingCalendar, start: datetime, due: datetime, hours: float) -> datetime:
    """``hours`` of working time before ``due`` (never before ``start``). Counting forward from the
    clock's start by the working time it spans keeps this right after a pause or an apology letter
    moved the due time."""
    if calendar.mode is CalendarMode.ALWAYS:
        return max(due - timedelta(hours=hours), start)  # exact: the 24/7 calendar serves demos in seconds
    span = calendar.working_hours_between(start, due)
    return calendar.deadline_after(start, max(span - hours, 0.0))


def _after(calendar: WorkingCalendar, moment: datetime, hours: float) -> datetime:
    if calendar.mode is CalendarMode.ALWAYS:
        return moment + timedelta(hours=hours)
    return calendar.deadline_after(moment, hours)


def plan(
    *,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
    now: datetime,
) -> list[SlaTimer]:
    """The timers the dossier's state calls for: none unless it is being worked on."""
    if DossierStatus(dossier.status) not in domain.IN_PROGRESS:
        return []
    timers: list[SlaTimer] = []

    def timer(level: str, index: int | None, kind: str, at: datetime, rung: int = 0) -> None:
        timers.append(
            SlaTimer(
                dossier_code=dossier.code,
                level=level,
                step_index=index,
                kind=kind,
                rung=rung,
                fire_at=at,
            )
        )

    if step is not None and step.counted and step.due_at is not None and step.completed_at is None:
        timer(
            "step",
            step.step_index,
            "near_due",
            _before(calendar, step.started_at, step.due_at, near_due_hours(step.allotted_hours)),
        )
        timer("step", step.step_index, "due", step.due_at)
        for rung, delay in enumerate(procedure.escalation_hours, start=1):
            timer("step", step.step_index, "escalation", _after(calendar, step.due_at, delay), rung)
        timer("step", step.step_index, "stalled", _after(calendar, now, procedure.stall_hours))
    if dossier.due_at is not None:
        timer(
            "dossier",
            None,
            "near_due",
            _before(
                calendar, dossier.decided_at or now, dossier.due_at, near_due_hours(procedure.total_hours)
            ),
        )
        timer("dossier", None, "due", dossier.due_at)
    return timers


async def arm(
    session: AsyncSession,
    outbox: Outbox,
    *,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
    now: datetime,
) -> None:
    """Drop the dossier's armed timers and arm what its state calls for, at its current revision."""
    timers = plan(dossier=dossier, step=step, procedure=procedure, calendar=calendar, now=now)
    stamped = [timer.model_copy(update={"version": dossier.revision}) for timer in timers]
    await outbox.add(
        session, SlaTimersCancelled(dossier_code=dossier.code, version=dossier.revision), *stamped
    )


# -- firing ------------------------------------------------------------------------------------------
async def _people(
    session: AsyncSession, *, role: str, unit_code: str | None = None, agency_code: str | None = None
) -> list[AlertRecipient]:
    statement = select(Person).where(Person.role == role, col(Person.active).is_(True))
    if unit_code is not None:
        statement = statement.where(Person.unit_code == unit_code)
    if agency_code is not None:
        statement = statement.where(Person.agency_code == agency_code)
    rows = (await session.exec(statement.order_by(col(Person.username)))).all()
    return [AlertRecipient(username=row.username, role=row.role) for row in rows]


async def recipients(
    session: AsyncSession, *, rung: int, step: DossierStep | None, dossier: Dossier
) -> list[AlertRecipient]:
    """Rung 0: the step's officer, or the unit's officers when nobody claimed it; rung 1: the unit's
    managers; rung 2: the agency's leaders."""
    unit = step.unit_code if step is not None else dossier.current_unit_code
    agency = step.agency_code if step is not None else dossier.current_agency_code
    if rung == 0:
        if step is not None and step.assignee is not None:
            return [AlertRecipient(username=step.assignee, role="officer")]
        return await _people(session, role="officer", unit_code=unit)
    if rung == 1:
        return await _people(session, role="manager", unit_code=unit)
    return await _people(session, role="leader", agency_code=agency)


async def _claim(session: AsyncSession, *, timer: SlaTimer, index: int) -> bool:
    statement = (
        insert_ignoring_duplicates(session, SlaClaim)
        .values(
            dossier_code=timer.dossier_code,
            step_index=index,
            kind=timer.kind,
            rung=timer.rung,
            raised_at=utc_now(),
        )
        .on_conflict_do_nothing()
    )
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


async def fired(session: AsyncSession, outbox: Outbox, *, timer: SlaTimer) -> SlaAlert | None:
    """Raise the timer's alert when it still matches the dossier; returns the alert raised, if any."""
    dossier = await session.get(Dossier, timer.dossier_code)
    if dossier is None or dossier.revision != timer.version:
        return None  # stale: the dossier changed since the timer was armed
    if DossierStatus(dossier.status) not in domain.IN_PROGRESS:
        return None
    step: DossierStep | None = None
    if dossier.current_step_index is not None:
        statement = select(DossierStep).where(
            DossierStep.dossier_code == dossier.code, DossierStep.step_index == dossier.current_step_index
        )
        step = (await session.exec(statement)).first()
    if timer.level == "step" and (step is None or step.step_index != timer.step_index):
        return None
    index = DOSSIER_LEVEL if timer.level == "dossier" else int(timer.step_index or 0)
    if not await _claim(session, timer=timer, index=index):
        return None
    procedure = await procedure_of(session, dossier)
    due_at = (step.due_at if timer.level == "step" and step is not None else dossier.due_at) or timer.fire_at
    common = {
        "dossier_code": dossier.code,
        "version": dossier.revision,
        "procedure_code": procedure.code,
        "procedure_name": procedure.name,
        "level": timer.level,
        "step_index": step.step_index if timer.level == "step" and step is not None else None,
        "step_name": step.name if step is not None else None,
        "agency_code": step.agency_code if step is not None else dossier.current_agency_code,
        "unit_code": step.unit_code if step is not None else dossier.current_unit_code,
        "owner": step.assignee if step is not None else None,
        "due_at": due_at,
        "raised_at": utc_now(),
        "rung": timer.rung,
        "recipients": await recipients(session, rung=timer.rung, step=step, dossier=dossier),
    }
    alert: SlaAlert
    if timer.kind == "near_due":
        alert = AlertNearDue(**common)
    elif timer.kind == "due":
        alert = AlertOverdue(**common)
    elif timer.kind == "stalled":
        alert = AlertStalled(**common, idle_since=dossier.last_action_at or dossier.registered_at)
    else:
        alert = AlertEscalated(**common, kind="overdue")
    await outbox.add(session, alert)
    logger.info("%s raised for %s (step %s, rung %d)", alert.type, dossier.code, alert.step_index, timer.rung)
    return alert


# -- the safety net ------------------------------------------------------------------------------------
async def reconcile(db: Database, outbox: Outbox, *, batch: int = 500) -> int:
    """Re-arm the timers of every open dossier once, after a crash or lost timers; returns how many."""
    armed = 0
    after = ""
    clocks: dict[tuple[str, int], tuple[ProcedureVersion, WorkingCalendar]] = {}
    open_statuses = [int(status) for status in domain.IN_PROGRESS]
    while True:
        async with db.session() as session:
            statement = (
                select(Dossier)
                .where(col(Dossier.status).in_(open_statuses), Dossier.code > after)
                .order_by(col(Dossier.code))
                .limit(batch)
            )
            rows = (await session.exec(statement)).all()
            if not rows:
                return armed
            now = utc_now()
            for dossier in rows:
                step = None
                if dossier.current_step_index is not None:
                    step = (
                        await session.exec(
                            select(DossierStep).where(
                                DossierStep.dossier_code == dossier.code,
                                DossierStep.step_index == dossier.current_step_index,
                            )
                        )
                    ).first()
                key = (dossier.procedure_code, dossier.procedure_version)
                if key not in clocks:
                    procedure = await procedure_of(session, dossier)
                    clocks[key] = (procedure, await calendar_of(session, procedure))
                procedure, calendar = clocks[key]
                # Stalled runs from the last action, not from this restart.
                await arm(
                    session,
                    outbox,
                    dossier=dossier,
                    step=step,
                    procedure=procedure,
                    calendar=calendar,
                    now=dossier.last_action_at or now,
                )
                armed += 1
            after = rows[-1].code
