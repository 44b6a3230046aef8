"""A dossier's steps as stored: all of them in order, and the one running now."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Dossier, DossierStep


async def steps_of(session: AsyncSession, code: str) -> list[DossierStep]:
    statement = (
        select(DossierStep).where(DossierStep.dossier_code == code).order_by(col(DossierStep.step_index))
    )
    return list((await session.exec(statement)).all())


async def step_at(session: AsyncSession, code: str, index: int) -> DossierStep | None:
    statement = select(DossierStep).where(DossierStep.dossier_code == code, DossierStep.step_index == index)
    return (await session.exec(statement)).first()


async def running_step(session: AsyncSession, dossier: Dossier) -> DossierStep | None:
    """The current step, or ``None`` when none runs (before acceptance, after the result)."""
    index = dossier.current_step_index
    return None if index is None else await step_at(session, dossier.code, index)
