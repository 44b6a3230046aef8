"""A dossier's steps as stored: all of them in order, and the one running now."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Dossier, DossierStep

# Built once: every action and every read of a dossier reads its steps.
_STEPS_OF = (
    select(DossierStep)
    .where(col(DossierStep.dossier_code) == bindparam("code"))
    .order_by(col(DossierStep.step_index))
)
_STEP_AT = select(DossierStep).where(
    col(DossierStep.dossier_code) == bindparam("code"), col(DossierStep.step_index) == bindparam("index")
)


async def steps_of(session: AsyncSession, code: str) -> list[DossierStep]:
    return list((await session.exec(_STEPS_OF, params={"code": code})).all())


async def step_at(session: AsyncSession, code: str, index: int) -> DossierStep | None:
    return (await session.exec(_STEP_AT, params={"code": code, "index": index})).first()


async def running_step(session: AsyncSession, dossier: Dossier) -> DossierStep | None:
    """The current step, or ``None`` when none runs (before acceptance, after the result)."""
    index = dossier.current_step_index
    return None if index is None else await step_at(session, dossier.code, index)
