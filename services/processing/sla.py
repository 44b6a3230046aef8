"""SLA watch: the timers a dossier's state calls for, and what happens when one fires.

Timers are NATS scheduled messages (see ``shared.events.SlaTimer``), one subject per timer slot, so
arming a slot again replaces what it held. Every change of a dossier arms the timers its new state
calls for, through the outbox, in the same transaction as the change; each timer carries the
dossier's revision, and a timer whose revision is no longer the dossier's is stale and dropped when
it fires. Only the slots the new plan no longer uses are purged (see ``purge_filters``); the dossier
records which slots its last arm used. The outbox relay publishes in commit order, so an older arm
or purge never lands after a newer one.

A live timer raises its alert once, guarded by a claim row per (dossier, step, kind, rung). There is
no polling loop for alerts; ``sla_reconcile`` re-arms, now and then, the open dossiers whose timers
the SLA stream lacks or holds stale.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple
from uuid import uuid4

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.catalog import procedure_of
from services.processing.models import Dossier, DossierStep, Person, SlaClaim
from services.processing.steps import running_step
from services.processing.working_calendar import calendar_of
from shared.bus.outbox import Outbox
from shared.db import insert_ignoring_duplicates
from shared.events import (
    IN_PROGRESS,
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
    TimerKind,
    subject_token,
    timer_subjects,
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


class PlannedTimer(NamedTuple):
    """One timer of a plan, before it is an event: what ``SlaTimer`` carries besides the dossier."""

    level: Literal["step", "dossier"]
    step_index: int | None
    kind: TimerKind
    rung: int
    fire_at: datetime


def schedule(
    *,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
    now: datetime,
) -> list[PlannedTimer]:
    """The timers the dossier's state calls for (none unless it is being worked on), as plain
    tuples: ``plan`` makes events of them, the reconciliation compares them with the stream."""
    if DossierStatus(dossier.status) not in IN_PROGRESS:
        return []
    timers: list[PlannedTimer] = []

    def timer(
        level: Literal["step", "dossier"], index: int | None, kind: TimerKind, at: datetime, rung: int = 0
    ) -> None:
        timers.append(PlannedTimer(level, index, kind, rung, at))

    if step is not None and step.counted and step.due_at is not None and step.completed_at is None:
        timer(
            "step",
            step.step_index,
            "near_due",
            _before(calendar, step.started_at, step.due_at, near_due_hours(step.allotted_hours)),
        )
        timer("step", step.step_index, "due", step.due_at)
        # A rung of the escalation ladder is armed once the moment before it (the due time, then
        # the rung below) has passed: when that timer fires (``fired``), or by the next change or
        # reconciliation after it. Most steps end before their due time, so most never arm one.
        previous = step.due_at
        for rung, delay in enumerate(procedure.escalation_hours, start=1):
            if previous > now:
                break
            moment = _after(calendar, step.due_at, delay)
            timer("step", step.step_index, "escalation", moment, rung)
            previous = moment
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


def plan(
    *,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
    now: datetime,
) -> list[SlaTimer]:
    """The timers the dossier's state calls for: none unless it is being worked on."""
    return [
        SlaTimer(
            dossier_code=dossier.code,
            level=timer.level,
            step_index=timer.step_index,
            kind=timer.kind,
            rung=timer.rung,
            fire_at=timer.fire_at,
        )
        for timer in schedule(dossier=dossier, step=step, procedure=procedure, calendar=calendar, now=now)
    ]


def purge_filters(code: str, *, armed: Collection[str] | None, planned: Collection[str]) -> list[str]:
    """Subject filters that drop the timer slots ``armed`` holds and ``planned`` does not use, and
    nothing ``planned`` uses: a step's or the dossier's slots as one wildcard when none of them stays,
    single subjects otherwise. ``armed`` unknown (``None``): every slot of the dossier, which is safe
    because the purge stops at its marker and the planned timers are armed after it."""
    base = f"sla.timer.{subject_token(code)}"
    if armed is None or (armed and not planned):
        return [timer_subjects(code)]
    dropped = sorted(set(armed) - set(planned))
    kept_groups = {_group(slot) for slot in planned}
    filters: list[str] = []
    for slot in dropped:
        group = _group(slot)
        wildcard = f"{base}.{group}.>"
        if group not in kept_groups:
            if wildcard not in filters:
                filters.append(wildcard)
        else:
            filters.append(f"{base}.{slot}")
    return filters


def _group(slot: str) -> str:
    """The level of a slot (``step`` of ``step.due.0``). Slots armed before timers lost their step
    number (``step.1.due.0``) group by level and step, so that a purge of them spares today's."""
    parts = slot.split(".")
    return ".".join(parts[:2]) if len(parts) > 3 else parts[0]


def stamped(timers: Sequence[SlaTimer], *, revision: int) -> list[SlaTimer]:
    """``timers`` at ``revision``, each with a message id of its own for this arm."""
    return [timer.model_copy(update={"version": revision, "event_id": uuid4()}) for timer in timers]


def rearm(
    *,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
    now: datetime,
) -> list[SlaTimersCancelled | SlaTimer]:
    """What arms what the dossier's state calls for, at its current revision, and purges the slots
    its last arm used that this one does not: for the caller to put in the outbox after whatever
    else its change publishes. Records the slots on the dossier."""
    timers = stamped(
        plan(dossier=dossier, step=step, procedure=procedure, calendar=calendar, now=now),
        revision=dossier.revision,
    )
    slots = [timer.slot for timer in timers]
    filters = purge_filters(dossier.code, armed=dossier.sla_slots, planned=slots)
    events: list[SlaTimersCancelled | SlaTimer] = []
    if filters:
        events.append(
            SlaTimersCancelled(dossier_code=dossier.code, version=dossier.revision, filters=filters)
        )
    events.extend(timers)
    if dossier.sla_slots != slots:
        dossier.sla_slots = slots
    return events


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


async def fired(session: AsyncSession, outbox: Outbox, *, event: SlaTimer) -> SlaAlert | None:
    """Raise the timer's alert when it still matches the dossier; returns the alert raised, if any."""
    # Locked: the next rung's slot is recorded on the dossier, which a change may be re-arming.
    dossier = await session.get(Dossier, event.dossier_code, with_for_update=True)
    if dossier is None or dossier.revision != event.version:
        return None  # stale: the dossier changed since the timer was armed
    if DossierStatus(dossier.status) not in IN_PROGRESS:
        return None
    step = await running_step(session, dossier)
    if event.level == "step" and (step is None or step.step_index != event.step_index):
        return None
    index = DOSSIER_LEVEL if event.level == "dossier" else int(event.step_index or 0)
    if not await _claim(session, timer=event, index=index):
        return None
    procedure = await procedure_of(session, dossier)
    due_at = (step.due_at if event.level == "step" and step is not None else dossier.due_at) or event.fire_at
    common = {
        "dossier_code": dossier.code,
        "version": dossier.revision,
        "procedure_code": procedure.code,
        "procedure_name": procedure.name,
        "level": event.level,
        "step_index": step.step_index if event.level == "step" and step is not None else None,
        "step_name": step.name if step is not None else None,
        "agency_code": step.agency_code if step is not None else dossier.current_agency_code,
        "unit_code": step.unit_code if step is not None else dossier.current_unit_code,
        "owner": step.assignee if step is not None else None,
        "due_at": due_at,
        "raised_at": utc_now(),
        "rung": event.rung,
        "recipients": await recipients(session, rung=event.rung, step=step, dossier=dossier),
    }
    alert: SlaAlert
    if event.kind == "near_due":
        alert = AlertNearDue(**common)
    elif event.kind == "due":
        alert = AlertOverdue(**common)
    elif event.kind == "stalled":
        alert = AlertStalled(**common, idle_since=dossier.last_action_at or dossier.registered_at)
    else:
        alert = AlertEscalated(**common, kind="overdue")
    following = await _next_rung(session, event=event, dossier=dossier, step=step, procedure=procedure)
    await outbox.add(session, alert, *following)
    logger.info("%s raised for %s (step %s, rung %d)", alert.type, dossier.code, alert.step_index, event.rung)
    return alert


async def _next_rung(
    session: AsyncSession,
    *,
    event: SlaTimer,
    dossier: Dossier,
    step: DossierStep | None,
    procedure: ProcedureVersion,
) -> list[SlaTimer]:
    """The escalation rung after the step timer that fired (the first after ``due``), armed at the
    dossier's revision now that its moment has come (see ``schedule``), and recorded with the
    dossier's slots; none after the last rung, or for the dossier's own timers."""
    if event.level != "step" or event.kind not in ("due", "escalation") or step is None:
        return []
    wanted = event.rung + 1 if event.kind == "escalation" else 1
    calendar = await calendar_of(session, procedure)
    # The server's clock fires it, ours decides: never before the moment the timer was set for.
    now = max(utc_now(), event.fire_at)
    timers = [
        timer
        for timer in plan(dossier=dossier, step=step, procedure=procedure, calendar=calendar, now=now)
        if timer.kind == "escalation" and timer.rung == wanted
    ]
    armed = stamped(timers, revision=dossier.revision)
    if armed and dossier.sla_slots is not None and armed[0].slot not in dossier.sla_slots:
        dossier.sla_slots = [*dossier.sla_slots, armed[0].slot]
        session.add(dossier)
    return armed
