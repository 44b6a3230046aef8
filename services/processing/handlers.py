"""Processing's event consumers: thin adapters from events to dossier operations."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import citizen_requests, sla
from shared.events import (
    DossierRated,
    DossierSubmitted,
    DossierSupplementProvided,
    DossierWithdrawalRequested,
    SlaTimer,
)
from shared.runtime import ServiceRuntime

logger = logging.getLogger(__name__)


async def on_submitted(session: AsyncSession, event: DossierSubmitted) -> None:
    dossier = await citizen_requests.register(session, event=event)
    if dossier is not None:
        logger.info("dossier %s registered, acceptance due %s", dossier.code, dossier.acceptance_due_at)


SLA_FIRED_CONCURRENCY = 16
# Registrations of different dossiers need no order among themselves, and a desk waits on each.
REGISTRATION_CONCURRENCY = 4


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(DossierSubmitted, on_submitted, concurrency=REGISTRATION_CONCURRENCY)
    runtime.handle(DossierSupplementProvided, citizen_requests.supplement_provided)
    runtime.handle(DossierWithdrawalRequested, citizen_requests.withdraw)
    runtime.handle(DossierRated, citizen_requests.rate)
    # Deadlines cluster (at the end of an office day, on whole minutes), so hundreds of timers can
    # fire in one second; each is checked against its own dossier and claimed once, so they need
    # no order among themselves.
    runtime.handle(
        SlaTimer,
        sla.fired,
        subject="sla.fired.>",
        concurrency=SLA_FIRED_CONCURRENCY,
    )
