"""Intake's event consumers: the catalog read copy and the citizen's status copy."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import projection
from shared.events import DossierAccepted, DossierRefused, ProcedurePublished
from shared.runtime import ServiceRuntime


async def on_procedure_published(session: AsyncSession, event: ProcedurePublished) -> None:
    await projection.store_procedure(session, event=event)


async def on_accepted(session: AsyncSession, event: DossierAccepted) -> None:
    await projection.apply_accepted(session, event=event)


async def on_refused(session: AsyncSession, event: DossierRefused) -> None:
    await projection.apply_refused(session, event=event)


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(ProcedurePublished, on_procedure_published)
    runtime.handle(DossierAccepted, on_accepted)
    runtime.handle(DossierRefused, on_refused)
