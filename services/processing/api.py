"""Processing's HTTP API for officers, managers, leaders and admins (bearer JWT).

Every action answers with the dossier as it now stands. A client may send the revision it acted on
(``expected_revision`` in the body, or ``If-Match``); a dossier that changed meanwhile answers 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel, Field

from services.processing import catalog, domain, dossiers
from services.processing.auth import ActorDep
from services.processing.models import Dossier, DossierHistory
from shared.events import DossierStatus, ProcedureVersion, utc_now
from shared.http import Limit, Offset, RuntimeDep, SessionDep
from shared.working_time import VN_TZ, WorkingCalendar

router = APIRouter(prefix="/api/v1")

# "Near due" in the worklist: due within this many working hours (DESIGN's 4-hour threshold).
NEAR_DUE_HOURS = 4.0


class ActionIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)
    expected_revision: int | None = Field(default=None, ge=1)


class RefusalIn(ActionIn):
    reason: str = Field(min_length=1, max_length=2000)


class SupplementRequestIn(ActionIn):
    reason: str = Field(min_length=1, max_length=2000)
    items: list[str] = Field(min_length=1, max_length=50)
    deadline_at: datetime | None = None


class ResultIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)


class ApprovalIn(ActionIn):
    result: ResultIn


class RescheduleIn(ActionIn):
    reason: str = Field(min_length=1, max_length=2000)
    new_due_at: datetime


class HistoryOut(BaseModel):
    at: datetime
    action: str
    actor: str
    actor_role: str
    from_status: int | None
    to_status: int
    note: str | None


class StepOut(BaseModel):
    index: int
    name: str
    unit_code: str
    agency_code: str
    assignee: str | None
    counted: bool
    started_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    allotted_hours: float
    used_hours: float
    remaining_hours: float | None


class DossierOut(BaseModel):
    code: str
    status: int
    status_name: str
    status_label: str
    procedure_code: str
    procedure_version: int
    agency_code: str
    current_unit_code: str
    current_agency_code: str
    current_step_index: int | None
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    channel: str
    submitted_at: datetime
    acceptance_due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    late_acceptance: bool | None
    due_at: datetime | None
    refusal_reason: str | None
    supplement_items: list[str] | None
    supplement_deadline_at: datetime | None
    rescheduled: bool
    resolved_at: datetime | None
    outcome: str | None
    result: dict[str, Any] | None
    rejection_reason: str | None
    timeliness: str | None
    returned_at: datetime | None
    withdrawn_at: datetime | None
    rating: str | None
    revision: int
    steps: list[StepOut] | None = None
    history: list[HistoryOut] | None = None


def _local(moment: datetime | None) -> Any:
    return None if moment is None else moment.astimezone(VN_TZ)


def dossier_out(
    dossier: Dossier,
    *,
    history: list[DossierHistory] | None = None,
    clocks: list[dossiers.StepClock] | None = None,
) -> DossierOut:
    state = DossierStatus(dossier.status)
    return DossierOut(
        code=dossier.code,
        status=state,
        status_name=state.portal_name,
        status_label=state.vietnamese_name,
        procedure_code=dossier.procedure_code,
        procedure_version=dossier.procedure_version,
        agency_code=dossier.agency_code,
        current_unit_code=dossier.current_unit_code,
        current_agency_code=dossier.current_agency_code,
        current_step_index=dossier.current_step_index,
        applicant=dossier.applicant,
        documents=dossier.documents,
        channel=dossier.channel,
        submitted_at=_local(dossier.submitted_at),
        acceptance_due_at=_local(dossier.acceptance_due_at),
        decided_at=_local(dossier.decided_at),
        decided_by=dossier.decided_by,
        late_acceptance=dossier.late_acceptance,
        due_at=_local(dossier.due_at),
        refusal_reason=dossier.refusal_reason,
        supplement_items=dossier.supplement_items,
        supplement_deadline_at=_local(dossier.supplement_deadline_at),
        rescheduled=dossier.rescheduled,
        resolved_at=_local(dossier.resolved_at),
        outcome=dossier.outcome,
        result=dossier.result,
        rejection_reason=dossier.rejection_reason,
        timeliness=dossier.timeliness,
        returned_at=_local(dossier.returned_at),
        withdrawn_at=_local(dossier.withdrawn_at),
        rating=dossier.rating,
        revision=dossier.revision,
        steps=None
        if clocks is None
        else [
            StepOut(
                index=clock.step.step_index,
                name=clock.step.name,
                unit_code=clock.step.unit_code,
                agency_code=clock.step.agency_code,
                assignee=clock.step.assignee,
                counted=clock.step.counted,
                started_at=_local(clock.step.started_at),
                due_at=_local(clock.step.due_at),
                completed_at=_local(clock.step.completed_at),
                completed_by=clock.step.completed_by,
                allotted_hours=clock.step.allotted_hours,
                used_hours=clock.used_hours,
                remaining_hours=clock.remaining_hours,
            )
            for clock in clocks
        ],
        history=None
        if history is None
        else [
            HistoryOut(
                at=_local(row.at),
                action=row.action,
                actor=row.actor,
                actor_role=row.actor_role,
                from_status=row.from_status,
                to_status=row.to_status,
                note=row.note,
            )
            for row in history
        ],
    )


def _as_http(exc: Exception) -> HTTPException:
    if isinstance(exc, dossiers.DossierNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"dossier {exc.args[0]} not found")
    if isinstance(exc, domain.AccessDenied):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, domain.InvalidTransition):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


_DOMAIN_ERRORS = (dossiers.DossierNotFound, domain.AccessDenied, domain.InvalidTransition, ValueError)

IfMatch = Annotated[str | None, Header(alias="If-Match", description="the revision the action is based on")]


def _expected(body: ActionIn, if_match: str | None) -> int | None:
    if body.expected_revision is not None or if_match is None:
        return body.expected_revision
    try:
        return int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "If-Match must be the dossier's revision number"
        ) from exc


async def _act(
    runtime: RuntimeDep, operation: Callable[..., Awaitable[Dossier]], **arguments: Any
) -> DossierOut:
    try:
        async with runtime.db.session() as session:
            dossier = await operation(session, runtime.outbox, **arguments)
    except _DOMAIN_ERRORS as exc:
        raise _as_http(exc) from exc
    return dossier_out(dossier)


@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await catalog.latest_versions(session)


@router.get("/worklist", tags=["dossiers"])
async def worklist(
    session: SessionDep,
    actor: ActorDep,
    status_filter: Annotated[list[int] | None, Query(alias="status")] = None,
    step: Annotated[str | None, Query(description="the current step's name")] = None,
    assignee: Annotated[str | None, Query(description="'me' or a username")] = None,
    near_due: Annotated[bool, Query(description=f"due within {NEAR_DUE_HOURS:g} working hours")] = False,
    overdue: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[DossierOut]:
    """The dossiers waiting on the caller's unit (agency for leaders, all for admins), soonest due first."""
    if status_filter and not all(1 <= value <= 10 for value in status_filter):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "status must be between 1 and 10")
    now = utc_now()
    due_before = None
    if overdue:
        due_before = now
    elif near_due:
        due_before = WorkingCalendar().deadline_after(now, NEAR_DUE_HOURS)
    rows = await dossiers.worklist(
        session,
        actor=actor,
        statuses=status_filter,
        step_name=step,
        assignee=actor.username if assignee == "me" else assignee,
        due_before=due_before,
        limit=limit,
        offset=offset,
    )
    return [dossier_out(row) for row in rows]


@router.get("/dossiers/{code}", tags=["dossiers"])
async def get_dossier(code: str, session: SessionDep, actor: ActorDep) -> DossierOut:
    """The dossier with its audit trail and each step's allotted, used and remaining working time."""
    try:
        dossier = await dossiers.get(session, code=code)
        domain.check_scope(
            actor, agency_code=dossier.current_agency_code, unit_code=dossier.current_unit_code
        )
    except _DOMAIN_ERRORS as exc:
        raise _as_http(exc) from exc
    return dossier_out(
        dossier,
        history=await dossiers.history(session, code=code),
        clocks=await dossiers.step_clocks(session, dossier, now=utc_now()),
    )


@router.post("/dossiers/{code}/accept", tags=["actions"])
async def accept(
    code: str, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None, body: ActionIn | None = None
) -> DossierOut:
    body = body or ActionIn()
    return await _act(
        runtime,
        dossiers.accept,
        code=code,
        actor=actor,
        note=body.note,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/refuse", tags=["actions"])
async def refuse(
    code: str, body: RefusalIn, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None
) -> DossierOut:
    return await _act(
        runtime,
        dossiers.refuse,
        code=code,
        actor=actor,
        reason=body.reason,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/claim", tags=["actions"])
async def claim(
    code: str, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None, body: ActionIn | None = None
) -> DossierOut:
    body = body or ActionIn()
    return await _act(
        runtime,
        dossiers.claim,
        code=code,
        actor=actor,
        note=body.note,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/forward", tags=["actions"])
async def forward(
    code: str, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None, body: ActionIn | None = None
) -> DossierOut:
    body = body or ActionIn()
    return await _act(
        runtime,
        dossiers.forward,
        code=code,
        actor=actor,
        note=body.note,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/request-supplement", tags=["actions"])
async def request_supplement(
    code: str, body: SupplementRequestIn, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None
) -> DossierOut:
    return await _act(
        runtime,
        dossiers.request_supplement,
        code=code,
        actor=actor,
        reason=body.reason,
        items=body.items,
        deadline_at=body.deadline_at,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/approve", tags=["actions"])
async def approve(
    code: str, body: ApprovalIn, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None
) -> DossierOut:
    return await _act(
        runtime,
        dossiers.approve,
        code=code,
        actor=actor,
        result_name=body.result.name,
        note=body.note,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/reject", tags=["actions"])
async def reject(
    code: str, body: RefusalIn, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None
) -> DossierOut:
    return await _act(
        runtime,
        dossiers.reject,
        code=code,
        actor=actor,
        reason=body.reason,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/return-result", tags=["actions"])
async def return_result(
    code: str, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None, body: ActionIn | None = None
) -> DossierOut:
    body = body or ActionIn()
    return await _act(
        runtime,
        dossiers.return_result,
        code=code,
        actor=actor,
        note=body.note,
        expected_revision=_expected(body, if_match),
    )


@router.post("/dossiers/{code}/reschedule", tags=["actions"])
async def reschedule(
    code: str, body: RescheduleIn, runtime: RuntimeDep, actor: ActorDep, if_match: IfMatch = None
) -> DossierOut:
    return await _act(
        runtime,
        dossiers.reschedule,
        code=code,
        actor=actor,
        reason=body.reason,
        new_due_at=body.new_due_at,
        expected_revision=_expected(body, if_match),
    )
