"""Processing's HTTP API for officers, managers, leaders and admins (bearer JWT)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from services.processing import catalog, domain, dossiers
from services.processing.auth import ActorDep
from services.processing.models import Dossier, DossierHistory
from shared.events import DossierStatus, ProcedureVersion, utc_now
from shared.http import RuntimeDep, SessionDep
from shared.working_time import VN_TZ

router = APIRouter(prefix="/api/v1")


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class RefusalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class HistoryOut(BaseModel):
    at: datetime
    action: str
    actor: str
    actor_role: str
    from_status: int | None
    to_status: int
    note: str | None


class DossierOut(BaseModel):
    code: str
    status: int
    status_name: str
    status_label: str
    procedure_code: str
    procedure_version: int
    agency_code: str
    current_unit_code: str
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
    revision: int
    history: list[HistoryOut] | None = None


def _local(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(VN_TZ)


def dossier_out(dossier: Dossier, history: list[DossierHistory] | None = None) -> DossierOut:
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
        revision=dossier.revision,
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


@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await catalog.latest_versions(session)


@router.get("/worklist", tags=["dossiers"])
async def worklist(
    session: SessionDep,
    actor: ActorDep,
    status_filter: Annotated[int | None, Query(alias="status", ge=1, le=10)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DossierOut]:
    rows = await dossiers.worklist(
        session,
        actor=actor,
        status=status_filter,
        overdue_at=utc_now() if overdue else None,
        limit=limit,
        offset=offset,
    )
    return [dossier_out(row) for row in rows]


@router.get("/dossiers/{code}", tags=["dossiers"])
async def get_dossier(code: str, session: SessionDep, actor: ActorDep) -> DossierOut:
    try:
        dossier = await dossiers.get(session, code=code)
        domain.check_scope(actor, agency_code=dossier.agency_code, unit_code=dossier.current_unit_code)
    except _DOMAIN_ERRORS as exc:
        raise _as_http(exc) from exc
    return dossier_out(dossier, await dossiers.history(session, code=code))


@router.post("/dossiers/{code}/accept", tags=["dossiers"])
async def accept(code: str, runtime: RuntimeDep, actor: ActorDep, body: NoteIn | None = None) -> DossierOut:
    try:
        async with runtime.db.session() as session:
            dossier = await dossiers.accept(
                session, runtime.outbox, code=code, actor=actor, note=body.note if body else None
            )
    except _DOMAIN_ERRORS as exc:
        raise _as_http(exc) from exc
    return dossier_out(dossier)


@router.post("/dossiers/{code}/refuse", tags=["dossiers"])
async def refuse(code: str, body: RefusalIn, runtime: RuntimeDep, actor: ActorDep) -> DossierOut:
    try:
        async with runtime.db.session() as session:
            dossier = await dossiers.refuse(
                session, runtime.outbox, code=code, actor=actor, reason=body.reason
            )
    except _DOMAIN_ERRORS as exc:
        raise _as_http(exc) from exc
    return dossier_out(dossier)
