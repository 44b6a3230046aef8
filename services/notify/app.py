"""The notify service: turns dossier events into notifications for citizens and staff, delivers
email, and keeps the SLA alerts managers act on.

Run with ``uvicorn --factory services.notify.app:app_factory``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.notify.api import alerts_router, inbox_router, router
from services.notify.courier import Courier, Couriers, delivery_outcomes
from services.notify.handlers import register_handlers
from services.notify.live import InboxFeed
from services.notify.models import metadata
from services.notify.settings import DeliverySettings, SmtpSettings, WebhookSettings
from services.notify.smtp import EmailSender
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import AuthSettings

DESCRIPTION = (
    "Notifications for citizens and staff: the receipt (phiếu hẹn) when a dossier is accepted and "
    "every later change the applicant must hear of, in the in-app inbox (with a live feed) and by "
    "email; SLA alerts for officers, managers and leaders."
)


def create_app(
    settings: RuntimeSettings | None = None,
    *,
    span_processors: tuple[SpanProcessor, ...] = (),
    smtp: SmtpSettings | None = None,
    delivery: DeliverySettings | None = None,
    webhook: WebhookSettings | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    runtime = ServiceRuntime("notify", metadata, settings, span_processors=span_processors)
    app = runtime.create_app(
        title="motcua notify", routers=[router, inbox_router, alerts_router], description=DESCRIPTION
    )
    # Read by the couriers and handlers on every use, so that they can be replaced while the app
    # runs (the tests point them at their own servers).
    state = app.state
    state.smtp = smtp or SmtpSettings()
    state.delivery = delivery or DeliverySettings()
    state.webhook = webhook or WebhookSettings()
    state.auth = auth or AuthSettings()
    outcomes = delivery_outcomes(runtime.registry)
    couriers = Couriers(
        [
            Courier(runtime.db, sender, lambda: state.delivery, outcomes=outcomes)
            for sender in (EmailSender(lambda: state.smtp),)
        ]
    )
    state.couriers = couriers
    feed = InboxFeed()
    state.inbox_feed = feed
    register_handlers(runtime, couriers=couriers, webhooks=lambda: state.webhook, feed=feed)

    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        # The couriers start after the database is open and stop before it closes.
        async with runtime_lifespan(started):
            feed.reopen()
            couriers.start()
            try:
                yield
            finally:
                # Open inbox streams end first, so that the server is not kept waiting for them.
                feed.close()
                await couriers.stop()

    app.router.lifespan_context = lifespan
    return app


def app_factory() -> FastAPI:
    return create_app()
