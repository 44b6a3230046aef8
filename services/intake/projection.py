"""Intake's read copies, kept current from events: the catalog, and each dossier's status as the
citizen sees it (with its timeline)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, ProcedureCopy
from shared.events import (
    DossierAccepted,
    DossierRefused,
    DossierStatus,
    ProcedurePublished,
)


async def store_procedure(session: AsyncSession, *, event: ProcedurePublished) -> None:
    procedure = event.procedure
    if await session.get(ProcedureCopy, (procedure.code, procedure.version)) is not None:
        return
    session.add(
        ProcedureCopy(
            code=procedure.code,
            version=procedure.version,
            name=procedure.name,
            agency_code=procedure.agency_code,
            body=procedure.model_dump(mode="json"),
        )
    )


async def _apply(session: AsyncSession, *, code: str, revision: int, **changes: Any) -> None:
    """Bring the status copy up to processing's ``revision``; an older or repeated event is ignored."""
    dossier = await session.get(Dossier, code)
    if dossier is None or revision <= dossier.revision:
        return
    for name, value in changes.items():
        setattr(dossier, name, value)
    dossier.revision = revision
    session.add(dossier)


async def apply_accepted(session: AsyncSession, *, event: DossierAccepted) -> None:
    await _apply(
        session,
        code=event.dossier_code,
        revision=event.version,
        status=DossierStatus.NEW,
        accepted_at=event.accepted_at,
        due_at=event.due_at,
    )


async def apply_refused(session: AsyncSession, *, event: DossierRefused) -> None:
    await _apply(
        session,
        code=event.dossier_code,
        revision=event.version,
        status=DossierStatus.DENIED,
        status_note=event.reason,
    )
