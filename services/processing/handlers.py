"""Processing's event consumers: thin adapters from events to dossier operations."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import dossiers
from shared.events import DossierSubmitted
from shared.runtime import ServiceRuntime

logger = logging.getLogger(__name__)


async def on_submitted(session: AsyncSession, event: DossierSubmitted) -> None:
    dossier = await dossiers.register(session, event=event)
    if dossier is not None:
        logger.info("dossier %s registered, acceptance due %s", dossier.code, dossier.acceptance_due_at)


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(DossierSubmitted, on_submitted)
