"""Intake's read copy of the catalog: the procedure versions processing published."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, ProcedureCopy
from shared.events import ProcedureVersion


async def current_procedure(session: AsyncSession, *, code: str) -> ProcedureVersion | None:
    statement = (
        select(ProcedureCopy)
        .where(ProcedureCopy.code == code)
        .order_by(col(ProcedureCopy.version).desc())
        .limit(1)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else ProcedureVersion.model_validate(row.body)


async def current_procedures(session: AsyncSession) -> list[ProcedureVersion]:
    rows = (
        await session.exec(
            select(ProcedureCopy).order_by(col(ProcedureCopy.code), col(ProcedureCopy.version))
        )
    ).all()
    latest = {row.code: row for row in rows}
    return [ProcedureVersion.model_validate(row.body) for row in latest.values()]


async def procedure_of(session: AsyncSession, dossier: Dossier) -> ProcedureVersion | None:
    """The procedure version the dossier was submitted under."""
    row = await session.get(ProcedureCopy, (dossier.procedure_code, dossier.procedure_version))
    return None if row is None else ProcedureVersion.model_validate(row.body)
