"""Processing's event consumers: thin adapters from events to dossier operations."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import citizen_requests, sla
from shared.bus.outbox import Outbox
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


def _with_outbox(
    outbox: Outbox, operation: Callable[..., Awaitable[None]]
) -> Callable[[AsyncSession, object], Awaitable[None]]:
    async def handle(session: AsyncSession, event: object) -> None:
        await operation(session, outbox, event=event)

    return handle


SLA_FIRED_CONCURRENCY = 16


async def _timer_fired(outbox: Outbox, session: AsyncSession, timer: SlaTimer) -> None:
    await sla.fired(session, outbox, timer=timer)


def register_handlers(runtime: ServiceRuntime) -> None:
    runtime.handle(DossierSubmitted, on_submitted)
    runtime.handle(
        DossierSupplementProvided, _with_outbox(runtime.outbox, citizen_requests.supplement_provided)
    )
    runtime.handle(DossierWithdrawalRequested, _with_outbox(runtime.outbox, citizen_requests.withdraw))
    runtime.handle(DossierRated, _with_outbox(runtime.outbox, citizen_requests.rate))
    # Deadlines cluster (at the end of an office day, on whole minutes), so hundreds of timers can
    # fire in one second; each is checked against its own dossier and claimed once, so they need
    # no order among themselves.
    runtime.handle(
        SlaTimer,
        partial(_timer_fired, runtime.outbox),
        subject="sla.fired.>",
        concurrency=SLA_FIRED_CONCURRENCY,
    )
