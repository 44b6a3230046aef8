"""The clocks of a dossier: which calendar counts its time, its deadlines, how a supplement moves
them, and whether it was resolved early, on time or late. Pure functions of times and calendars."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from shared.events import CalendarKind, ProcedureVersion, Timeliness
from shared.working_time import HOURS_PER_DAY, VN_TZ, CalendarMode, WorkingCalendar

# An online submission must be accepted or refused within one working day (later is late acceptance).
ACCEPTANCE_HOURS = HOURS_PER_DAY

_MODES: dict[CalendarKind, CalendarMode] = {
    "working": CalendarMode.WORKING,
    "calendar_days": CalendarMode.CALENDAR_DAYS,
    "always": CalendarMode.ALWAYS,
}


def calendar_for(kind: CalendarKind, overrides: Mapping[date, bool] | None = None) -> WorkingCalendar:
    return WorkingCalendar(_MODES[kind], overrides=overrides)


def acceptance_deadline(submitted_at: datetime, calendar: WorkingCalendar) -> datetime:
    return calendar.deadline_after(submitted_at, ACCEPTANCE_HOURS)


def step_deadline(
    procedure: ProcedureVersion, index: int, start: datetime, calendar: WorkingCalendar
) -> datetime | None:
    step = procedure.steps[index]
    return calendar.deadline_after(start, step.hours) if step.counted else None


def timeliness(*, resolved_at: datetime, due_at: datetime, rescheduled: bool) -> Timeliness:
    """Early before the due date, on time on it, late after it; an apology letter means late."""
    if rescheduled or resolved_at > due_at:
        return "late"
    if resolved_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
        return "early"
    return "on_time"


@dataclass(frozen=True)
class Resumption:
    """How the clocks move when the supplement arrives."""

    paused_hours: float
    dossier_due_at: datetime | None
    step_due_at: datetime | None
    restart_step: bool


def resume(
    *,
    policy: str,
    paused_at: datetime,
    now: datetime,
    dossier_due_at: datetime | None,
    step_due_at: datetime | None,
    procedure: ProcedureVersion,
    step_hours: float,
    calendar: WorkingCalendar,
) -> Resumption:
    """``pause``: both due dates move by exactly the working time spent waiting.
    ``restart``: the whole time limit, and the current step's allotment, start again now."""
    if policy == "restart":
        return Resumption(
            paused_hours=0,
            dossier_due_at=calendar.deadline_after(now, procedure.total_hours),
            step_due_at=calendar.deadline_after(now, step_hours),
            restart_step=True,
        )
    waited = calendar.working_hours_between(paused_at, now)

    def moved(due: datetime | None) -> datetime | None:
        return None if due is None else calendar.deadline_after(due, waited)

    return Resumption(
        paused_hours=waited,
        dossier_due_at=moved(dossier_due_at),
        step_due_at=moved(step_due_at),
        restart_step=False,
    )
