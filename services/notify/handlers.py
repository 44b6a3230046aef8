"""Event handlers: thin adapters from the bus to the notification service functions."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.notifications import notify
from services.notify.rendering import TemplateRenderer
from shared.events import DossierAccepted, DossierRefused, Event
from shared.runtime import ServiceRuntime

logger = logging.getLogger(__name__)


def register_handlers(runtime: ServiceRuntime, *, renderer: TemplateRenderer | None = None) -> None:
    templates = renderer or TemplateRenderer()

    async def deliver(session: AsyncSession, event: Event) -> None:
        created = await notify(session=session, event=event, renderer=templates)
        logger.info("%s %s: %d notification(s) stored", event.type, event.dossier_code, len(created))

    async def on_accepted(session: AsyncSession, event: DossierAccepted) -> None:
        """The receipt (phiếu hẹn) for the applicant."""
        await deliver(session, event)

    async def on_refused(session: AsyncSession, event: DossierRefused) -> None:
        """The refusal notice, with its reason, for the applicant."""
        await deliver(session, event)

    runtime.handle(DossierAccepted, on_accepted)
    runtime.handle(DossierRefused, on_refused)
