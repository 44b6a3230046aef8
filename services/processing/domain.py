"""Dossier rules that need no transport: the state machine and the deadline maths.

Plain Python; routes and event handlers call in here and persist what comes out. Statuses are the
national portal's (see ``shared.events.DossierStatus``). A procedure's last step returns the result
(trả kết quả); the step before it ends processing with ``approve`` or ``reject``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple

from shared.errors import Conflict, Forbidden, Invalid
from shared.events import (
    IN_PROGRESS,
    WITHDRAWABLE,
    DeclineReason,
    DossierStatus,
    ProcedureVersion,
)
from shared.staff import Staff
from shared.working_time import WorkingCalendar

# How far ahead an officer may set a date (a supplement deadline, a new appointment): a year covers
# every real case, and a date centuries away makes every later deadline computation crawl.
FURTHEST_AHEAD = timedelta(days=365)
# Who may sign the apology letter that moves the legal due date: the heads of the line, not an
# officer, nor an admin, who is outside it.
RESCHEDULING_ROLES = frozenset({"manager", "leader"})

S = DossierStatus


class Action(StrEnum):
    """What can happen to a dossier; the value is the name the audit trail and the API use."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    CLAIM = "claim"
    FORWARD = "forward"
    REQUEST_SUPPLEMENT = "request-supplement"
    SUPPLEMENT_PROVIDED = "supplement-provided"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN_RESULT = "return-result"
    RESCHEDULE = "reschedule"
    WITHDRAW = "withdraw"
    RATED = "rated"


class Transition(NamedTuple):
    """From which statuses an action may happen, and the status it leaves (``None``: it stays)."""

    allowed: frozenset[DossierStatus]
    target: DossierStatus | None


A = Action
# The workflow (quy trình) as data. A target depends on the action alone, never on where the
# dossier comes from: forward ends in processing from new or processing alike, and a supplement
# received resumes processing whether it was asked at reception or later. Rules that look further
# than the status (a refusal while waiting only after the supplement deadline) narrow these in the
# functions below, and never widen them.
TRANSITIONS: Mapping[Action, Transition] = {
    A.ACCEPT: Transition(frozenset({S.RECEIVING}), S.NEW),
    A.REFUSE: Transition(frozenset({S.RECEIVING, S.WAITING}), S.DENIED),
    A.CLAIM: Transition(IN_PROGRESS | {S.RELEASING}, None),
    A.FORWARD: Transition(IN_PROGRESS, S.PROCESSING),
    A.REQUEST_SUPPLEMENT: Transition(IN_PROGRESS, S.WAITING),
    A.SUPPLEMENT_PROVIDED: Transition(frozenset({S.WAITING}), S.PROCESSING),
    A.APPROVE: Transition(IN_PROGRESS, S.RELEASING),
    A.REJECT: Transition(IN_PROGRESS, S.RELEASING),
    A.RETURN_RESULT: Transition(frozenset({S.RELEASING}), S.DONE),
    A.RESCHEDULE: Transition(IN_PROGRESS | {S.WAITING}, None),
    A.WITHDRAW: Transition(WITHDRAWABLE, S.CANCELLED),
    A.RATED: Transition(frozenset({S.DONE}), None),
}

# Where the table never takes a dossier, and where it never takes one out of. A submission, not an
# action, makes a dossier receiving (1). No action leaves a dossier paying (6) or unresolved (8):
# they are the national portal's codes, kept so that a dossier synchronised from the portal in them
# reads right. Paying is where the citizen owes a fee before processing goes on (a withdrawal still
# ends it); unresolved is processing stopped by a decision outside the workflow, an end like the
# three below. Denied (3), cancelled (7) and done (10; a rating keeps it done) are the ends.
ENDS = frozenset({S.DENIED, S.CANCELLED, S.DONE})
PORTAL_ONLY = frozenset({S.PAYING, S.UNRESOLVED})

# How an error message names the action: "cannot {phrase} a dossier that is …".
_PHRASES: Mapping[Action, str] = {
    A.REQUEST_SUPPLEMENT: "request a supplement for",
    A.SUPPLEMENT_PROVIDED: "take a supplement for",
    A.RETURN_RESULT: "return the result of",
    A.RATED: "rate",
}


class InvalidTransition(Conflict):
    """The action is not allowed from the dossier's current state; the message says why."""


class AccessDenied(Forbidden):
    """The person may not act on, or see, this dossier."""


def describe(status: DossierStatus) -> str:
    return f"{status.portal_name} ({status.vietnamese_name})"


def allows(status: DossierStatus, action: Action) -> bool:
    return status in TRANSITIONS[action].allowed


def require(status: DossierStatus, action: Action) -> None:
    """Raise ``InvalidTransition`` naming the statuses ``action`` is allowed from, unless ``status``
    is one of them."""
    allowed = TRANSITIONS[action].allowed
    if status not in allowed:
        names = ", ".join(describe(item) for item in sorted(allowed))
        raise InvalidTransition(
            f"cannot {_PHRASES.get(action, action.value)} a dossier that is {describe(status)}; "
            f"allowed from: {names}"
        )


def transition(status: DossierStatus, action: Action) -> DossierStatus:
    """The status ``action`` leaves a dossier in that is ``status`` now, as the table says."""
    require(status, action)
    return TRANSITIONS[action].target or status


class StaleRevision(InvalidTransition):
    """The client acted on a revision of the dossier that is no longer the current one."""


def require_revision(current: int, expected: int | None) -> None:
    """Optimistic concurrency: the client acts on the revision it saw, or not at all."""
    if expected is not None and expected != current:
        raise StaleRevision(
            f"the dossier changed since you loaded it (revision {expected}, now {current}); reload it"
        )


# -- the workflow's shape --------------------------------------------------------------------------
def last_processing_step(procedure: ProcedureVersion) -> int:
    """The step that ends processing with approve or reject (the one before returning the result)."""
    return max(len(procedure.steps) - 2, 0)


def return_step(procedure: ProcedureVersion) -> int | None:
    return len(procedure.steps) - 1 if len(procedure.steps) > 1 else None


# -- reception --------------------------------------------------------------------------------------
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
    require(status, Action.ACCEPT)
    return Acceptance(
        due_at=calendar.deadline_after(now, procedure.total_hours),
        late=now > acceptance_due_at,
    )


def refuse(
    *, status: DossierStatus, reason: str, now: datetime, supplement_deadline_at: datetime | None
) -> str:
    """Refuse a new dossier, or one whose supplement never came by its deadline."""
    require(status, Action.REFUSE)
    if status is S.WAITING and (supplement_deadline_at is None or now <= supplement_deadline_at):
        raise InvalidTransition(
            "a dossier waiting for a supplement can be refused only after its deadline passed"
        )
    return required_text(reason, "a refusal needs a reason the citizen can read")


def required_text(value: str | None, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(message)
    return value


# -- steps ------------------------------------------------------------------------------------------
def check_forward(*, status: DossierStatus, step_index: int, procedure: ProcedureVersion) -> int:
    """The next step's index; the last processing step ends with approve or reject instead."""
    require(status, Action.FORWARD)
    if step_index >= last_processing_step(procedure):
        raise InvalidTransition("this is the last processing step: approve or reject the dossier instead")
    return step_index + 1


def check_resolve(
    *,
    status: DossierStatus,
    step_index: int,
    procedure: ProcedureVersion,
    action: Literal[Action.APPROVE, Action.REJECT],
) -> None:
    require(status, action)
    if action is Action.APPROVE and step_index != last_processing_step(procedure):
        step = procedure.steps[last_processing_step(procedure)]
        raise InvalidTransition(
            f"a dossier is approved at its last processing step ({step.name}); forward it there"
        )


# -- supplements (bổ sung) -----------------------------------------------------------------------------
def check_supplement_request(
    *, status: DossierStatus, items: list[str], deadline_at: datetime | None, now: datetime
) -> list[str]:
    require(status, Action.REQUEST_SUPPLEMENT)
    cleaned = [item.strip() for item in items if item.strip()]
    if not cleaned:
        raise Invalid("say what is missing: items must name at least one document or fact")
    if deadline_at is not None:
        check_ahead(deadline_at, now=now, what="the supplement deadline")
    return cleaned


def check_ahead(at: datetime, *, now: datetime, what: str) -> None:
    """``at`` is a timezone-aware instant in the future, at most ``FURTHEST_AHEAD`` from ``now``."""
    if at.tzinfo is None:
        raise Invalid(f"{what} needs a timezone, e.g. 2023-11-10T16:00:00+07:00")
    if at <= now:
        raise Invalid(f"{what} must be in the future")
    if at > now + FURTHEST_AHEAD:
        raise Invalid(f"{what} must be within {FURTHEST_AHEAD.days} days from now")


# -- apology letter ----------------------------------------------------------------------------------
def check_reschedule(
    *,
    status: DossierStatus,
    now: datetime,
    due_at: datetime | None,
    new_due_at: datetime,
    rescheduled: bool,
    calendar: WorkingCalendar,
) -> None:
    """One new appointment, asked before the due date passes, on a later working day."""
    require(status, Action.RESCHEDULE)
    if rescheduled:
        raise InvalidTransition("the appointment was already moved once; a dossier gets one apology letter")
    if due_at is None or now >= due_at:
        raise InvalidTransition("an apology letter must be issued before the due date passes")
    check_ahead(new_due_at, now=now, what="new_due_at")
    if new_due_at <= due_at:
        raise Invalid("the new appointment must be later than the current due date")
    if not calendar.is_working_day(new_due_at.astimezone(calendar.tz).date()):
        raise Invalid("the new appointment falls on a day off")


# -- who may act -----------------------------------------------------------------------------------------
# Who acts when the citizen's request arrives through intake, or a timer fires.
SYSTEM = Staff(username="system", role="system", agency_code=None, unit_code=None)

# The actions on a step someone may have claimed: an officer does not take over a colleague's
# (claiming it is ``check_claim``'s own rule).
CLAIM_GUARDED = frozenset(
    {A.FORWARD, A.REQUEST_SUPPLEMENT, A.APPROVE, A.REJECT, A.RETURN_RESULT, A.RESCHEDULE}
)
# Actions only some roles take; every other staff action is open to every role in scope.
_ROLES: Mapping[Action, frozenset[str]] = {A.RESCHEDULE: RESCHEDULING_ROLES}


def check_scope(actor: Staff, *, agency_code: str, unit_code: str) -> None:
    """Officers and managers act within their unit, leaders within their agency, admins anywhere."""
    if not actor.in_scope(agency_code=agency_code, unit_code=unit_code):
        raise AccessDenied(f"{actor.username} ({actor.role}) has no access to dossiers of unit {unit_code}")


def check_role(actor: Staff, action: Action) -> None:
    """The apology letter moves the legal due date: only a manager or a leader signs it."""
    roles = _ROLES.get(action)
    if roles is not None and actor.role not in roles:
        raise AccessDenied(
            f"{actor.username} ({actor.role}) may not move a due date; "
            "a manager or a leader issues the apology letter"
        )


def check_claimed_by(actor: Staff, assignee: str | None) -> None:
    """An officer does not take over a step a colleague claimed; heads and admins may."""
    if assignee is not None and assignee != actor.username and actor.role == "officer":
        raise InvalidTransition(f"the current step is claimed by {assignee}")


def check_claim(actor: Staff, assignee: str | None, *, step_name: str) -> None:
    if assignee == actor.username:
        raise InvalidTransition(f"the step {step_name!r} is already yours")
    check_claimed_by(actor, assignee)


# -- what the citizen asks through intake ----------------------------------------------------------------
# Each answers why the request is declined, or ``None`` when it is taken; the citizen hears the reason.
def supplement_declined(status: DossierStatus, *, waiting: bool) -> DeclineReason | None:
    """A supplement is taken only while the dossier waits for one (not once refused or withdrawn)."""
    return None if status is S.WAITING and waiting else "not_awaited"


def withdrawal_declined(status: DossierStatus) -> DeclineReason | None:
    """A citizen withdraws until the dossier is resolved; after that the result stands."""
    if status in WITHDRAWABLE:
        return None
    return "already_resolved" if status in {S.RELEASING, S.DONE} else "already_ended"


def rating_declined(status: DossierStatus, *, rated: bool) -> DeclineReason | None:
    """One rating, once the result was handed over."""
    if status is not S.DONE:
        return "not_returned"
    return "already_rated" if rated else None
