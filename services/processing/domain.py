"""Dossier rules that need no transport: the state machine for reception and the deadline maths.

Plain Python; routes and event handlers call in here and persist what comes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from shared.events import CalendarKind, DossierStatus, ProcedureVersion
from shared.working_time import HOURS_PER_DAY, CalendarMode, WorkingCalendar

# An online submission must be accepted or refused within one working day (later is late acceptance).
ACCEPTANCE_HOURS = HOURS_PER_DAY

_MODES: dict[CalendarKind, CalendarMode] = {
    "working": CalendarMode.WORKING,
    "calendar_days": CalendarMode.CALENDAR_DAYS,
    "always": CalendarMode.ALWAYS,
}


class InvalidTransition(Exception):
    """The action is not allowed from the dossier's current state; the message says why."""


class AccessDenied(Exception):
    """The person may not act on, or see, this dossier."""


def calendar_for(kind: CalendarKind, overrides: Mapping[date, bool] | None = None) -> WorkingCalendar:
    return WorkingCalendar(_MODES[kind], overrides=overrides)


def acceptance_deadline(submitted_at: datetime, calendar: WorkingCalendar) -> datetime:
    return calendar.deadline_after(submitted_at, ACCEPTANCE_HOURS)


@dataclass(frozen=True)
class Acceptance:
    due_at: datetime
    late: bool


def accept(
    *,
    status: DossierStatus,
    now: datetime,
    acceptance_due_at: datetime,
    procedure: ProcedureVersion,
    calendar: WorkingCalendar,
) -> Acceptance:
    """Accept a new dossier: its due date runs from now for the procedure's whole time limit."""
    _require_new(status, "accepted")
    return Acceptance(
        due_at=calendar.deadline_after(now, procedure.total_hours),
        late=now > acceptance_due_at,
    )


def refuse(*, status: DossierStatus, reason: str) -> str:
    _require_new(status, "refused")
    reason = reason.strip()
    if not reason:
        raise ValueError("a refusal needs a reason the citizen can read")
    return reason


def _require_new(status: DossierStatus, action: str) -> None:
    if status is not DossierStatus.RECEIVING:
        raise InvalidTransition(
            f"only a newly submitted dossier can be {action}; this one is {status.portal_name} "
            f"({status.vietnamese_name})"
        )


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    agency_code: str | None
    unit_code: str | None


def check_scope(actor: Actor, *, agency_code: str, unit_code: str) -> None:
    """Officers and managers act within their unit, leaders within their agency, admins anywhere."""
    if actor.role == "admin":
        return
    if actor.role == "leader" and actor.agency_code == agency_code:
        return
    if actor.role in {"officer", "manager"} and actor.unit_code == unit_code:
        return
    raise AccessDenied(f"{actor.username} ({actor.role}) has no access to dossiers of unit {unit_code}")
