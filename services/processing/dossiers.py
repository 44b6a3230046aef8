"""Dossier operations: load, apply a rule from ``domain``, persist with its history row and events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import domain
from services.processing.catalog import get_version
from services.processing.models import CalendarOverride, Dossier, DossierHistory
from shared.bus.outbox import Outbox
from shared.events import (
    Applicant,
    DossierAccepted,
    DossierRefused,
    DossierStatus,
    DossierSubmitted,
    ProcedureVersion,
    utc_now,
)
from shared.working_time import WorkingCalendar

SYSTEM = "system"


class DossierNotFound(LookupError):
    pass


async def calendar_overrides(session: AsyncSession) -> dict[date, bool]:
    rows = (await session.exec(select(CalendarOverride))).all()
    return {row.day: row.working for row in rows}


async def calendar_of(session: AsyncSession, procedure: ProcedureVersion) -> WorkingCalendar:
    return domain.calendar_for(procedure.calendar, await calendar_overrides(session))


async def procedure_of(session: AsyncSession, dossier: Dossier) -> ProcedureVersion:
    procedure = await get_version(session, code=dossier.procedure_code, version=dossier.procedure_version)
    if procedure is None:
        raise LookupError(
            f"procedure {dossier.procedure_code} v{dossier.procedure_version} is not in the catalog"
        )
    return procedure


async def register(session: AsyncSession, *, event: DossierSubmitted) -> Dossier | None:
    """Register a submitted dossier in the receiving unit's queue, with its acceptance deadline."""
    if await session.get(Dossier, event.dossier_code) is not None:
        return None
    procedure = await get_version(session, code=event.procedure_code, version=event.procedure_version)
    if procedure is None:
        # Intake only accepts procedures processing published, so this is a lag, not a bad event.
        raise LookupError(f"procedure {event.procedure_code} v{event.procedure_version} is not known yet")
    calendar = await calendar_of(session, procedure)
    now = utc_now()
    dossier = Dossier(
        code=event.dossier_code,
        procedure_code=procedure.code,
        procedure_version=procedure.version,
        agency_code=event.agency_code,
        current_unit_code=procedure.steps[0].unit_code,
        status=DossierStatus.RECEIVING,
        applicant=event.applicant.model_dump(mode="json"),
        documents=[document.model_dump(mode="json") for document in event.documents],
        channel=event.channel,
        submitted_at=event.submitted_at,
        registered_at=now,
        acceptance_due_at=domain.acceptance_deadline(event.submitted_at, calendar),
        revision=event.version,
    )
    session.add(dossier)
    await session.flush()
    session.add(
        DossierHistory(
            dossier_code=dossier.code,
            at=now,
            action="submitted",
            actor=f"citizen:{event.applicant.id_number}",
            actor_role="citizen",
            from_status=None,
            to_status=DossierStatus.RECEIVING,
            note=f"Nộp trực tuyến ({event.channel})",
        )
    )
    return dossier


async def load_for_update(session: AsyncSession, *, code: str) -> Dossier:
    # FOR UPDATE on PostgreSQL makes two officers racing on one dossier take turns; SQLite's
    # BEGIN IMMEDIATE already serialises writers.
    statement = select(Dossier).where(Dossier.code == code).with_for_update()
    dossier = (await session.exec(statement)).first()
    if dossier is None:
        raise DossierNotFound(code)
    return dossier


async def _acted_on(
    session: AsyncSession, *, code: str, actor: domain.Actor
) -> tuple[Dossier, ProcedureVersion]:
    """The dossier, locked for the change, once the actor is known to have it in scope."""
    dossier = await load_for_update(session, code=code)
    domain.check_scope(actor, agency_code=dossier.agency_code, unit_code=dossier.current_unit_code)
    return dossier, await procedure_of(session, dossier)


def _transition(
    session: AsyncSession,
    dossier: Dossier,
    *,
    actor: domain.Actor,
    action: str,
    to_status: DossierStatus,
    at: datetime,
    note: str | None,
) -> None:
    """Move the dossier to ``to_status``, bump its revision and write the audit row."""
    before = dossier.status
    dossier.status = to_status
    dossier.revision += 1
    session.add(dossier)
    session.add(
        DossierHistory(
            dossier_code=dossier.code,
            at=at,
            action=action,
            actor=actor.username,
            actor_role=actor.role,
            from_status=before,
            to_status=to_status,
            note=note,
        )
    )


def _notice_fields(dossier: Dossier, procedure: ProcedureVersion) -> dict[str, Any]:
    """What every citizen-facing event about this dossier carries (see ``CitizenNotice``)."""
    return {
        "dossier_code": dossier.code,
        "version": dossier.revision,
        "procedure_code": procedure.code,
        "procedure_name": procedure.name,
        "agency_name": procedure.agency_name,
        "applicant": Applicant.model_validate(dossier.applicant),
        "received_at": dossier.submitted_at,
    }


async def accept(
    session: AsyncSession, outbox: Outbox, *, code: str, actor: domain.Actor, note: str | None
) -> Dossier:
    dossier, procedure = await _acted_on(session, code=code, actor=actor)
    now = utc_now()
    decision = domain.accept(
        status=DossierStatus(dossier.status),
        now=now,
        acceptance_due_at=dossier.acceptance_due_at,
        procedure=procedure,
        calendar=await calendar_of(session, procedure),
    )
    dossier.decided_at = now
    dossier.decided_by = actor.username
    dossier.due_at = decision.due_at
    dossier.late_acceptance = decision.late
    _transition(
        session, dossier, actor=actor, action="accept", to_status=DossierStatus.NEW, at=now, note=note
    )
    await outbox.add(
        session,
        DossierAccepted(
            **_notice_fields(dossier, procedure),
            accepted_at=now,
            due_at=decision.due_at,
            accepted_by=actor.username,
            late_acceptance=decision.late,
        ),
    )
    return dossier


async def refuse(
    session: AsyncSession, outbox: Outbox, *, code: str, actor: domain.Actor, reason: str
) -> Dossier:
    dossier, procedure = await _acted_on(session, code=code, actor=actor)
    reason = domain.refuse(status=DossierStatus(dossier.status), reason=reason)
    now = utc_now()
    dossier.decided_at = now
    dossier.decided_by = actor.username
    dossier.refusal_reason = reason
    _transition(
        session, dossier, actor=actor, action="refuse", to_status=DossierStatus.DENIED, at=now, note=reason
    )
    await outbox.add(
        session,
        DossierRefused(
            **_notice_fields(dossier, procedure), refused_at=now, refused_by=actor.username, reason=reason
        ),
    )
    return dossier


async def get(session: AsyncSession, *, code: str) -> Dossier:
    dossier = await session.get(Dossier, code)
    if dossier is None:
        raise DossierNotFound(code)
    return dossier


async def history(session: AsyncSession, *, code: str) -> list[DossierHistory]:
    statement = (
        select(DossierHistory).where(DossierHistory.dossier_code == code).order_by(col(DossierHistory.id))
    )
    return list((await session.exec(statement)).all())


async def worklist(
    session: AsyncSession,
    *,
    actor: domain.Actor,
    status: int | None,
    overdue_at: datetime | None,
    limit: int,
    offset: int,
) -> list[Dossier]:
    """The dossiers the actor may act on, soonest deadline first."""
    statement: Any = select(Dossier)
    if actor.role == "leader":
        statement = statement.where(Dossier.agency_code == actor.agency_code)
    elif actor.role != "admin":
        statement = statement.where(Dossier.current_unit_code == actor.unit_code)
    if status is not None:
        statement = statement.where(Dossier.status == status)
    else:
        statement = statement.where(col(Dossier.status).in_([DossierStatus.RECEIVING, DossierStatus.NEW]))
    # The deadline that matters now: acceptance while new, then the dossier's due date.
    deadline = func.coalesce(col(Dossier.due_at), col(Dossier.acceptance_due_at))
    if overdue_at is not None:
        statement = statement.where(deadline < overdue_at)
    statement = statement.order_by(deadline, col(Dossier.code)).limit(limit).offset(offset)
    return list((await session.exec(statement)).all())
