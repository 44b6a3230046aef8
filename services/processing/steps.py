"""A dossier's steps as stored: all of them in order, and the one running now."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Dossier, DossierStep
from shared.db import Detached
from shared.driver_statements import DriverStatement

_STEPS = Detached(DossierStep)
# Every action and every read of a dossier reads its steps.
_STEPS_OF = DriverStatement(
    _STEPS.select()
    .where(_STEPS.table.c.dossier_code == bindparam("code"))
    .order_by(_STEPS.table.c.step_index)
)
_STEP_AT = select(DossierStep).where(
    col(DossierStep.dossier_code) == bindparam("code"), col(DossierStep.step_index) == bindparam("index")
)


async def steps_of(session: AsyncSession, code: str) -> list[DossierStep]:
    """Every step the dossier has started, in order, read on the driver as objects in no session
    (``Detached``): a change writes them itself (``writing.write_change``)."""
    return [_STEPS.of(row) for row in await _STEPS_OF.rows(session, {"code": code})]


async def step_at(session: AsyncSession, code: str, index: int) -> DossierStep | None:
    return (await session.exec(_STEP_AT, params={"code": code, "index": index})).first()


async def running_step(session: AsyncSession, dossier: Dossier) -> DossierStep | None:
    """The current step, or ``None`` when none runs (before acceptance, after the result)."""
    index = dossier.current_step_index
    return None if index is None else await step_at(session, dossier.code, index)
