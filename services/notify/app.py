"""The notify service: turns dossier events into notifications for citizens and staff, delivers
them by email, SMS and webhook, and keeps the SLA alerts managers act on.

Run with ``uvicorn --factory services.notify.app:app_factory``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.notify.channels.courier import Courier, Couriers, delivery_outcomes
from services.notify.channels.sms import SmsSender
from services.notify.channels.smtp import EmailSender
from services.notify.channels.webhook import WebhookSender
from services.notify.handlers import register_handlers
from services.notify.inbox.live import InboxFeed
from services.notify.messages import one_time_codes
from services.notify.messages.rendering import TemplateRenderer
from services.notify.migrations import history
from services.notify.models import metadata
from services.notify.retention import prune_notifications
from services.notify.settings import (
    CorsSettings,
    DeliverySettings,
    DigestSettings,
    InboxStreamSettings,
    SmsSettings,
    SmtpSettings,
    WebhookSettings,
)
from services.notify.staff.digest import DigestWriter
from services.notify.web.api import alerts_router, inbox_router, preferences_router, router
from services.notify.web.cors import StaffPagesCors
from services.notify.web.demo import router as demo_router
from services.notify.web.reports_api import reports_router
from services.notify.web.templates_api import templates_router
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.service_app import create_service_app
from shared.settings import AuthSettings

DESCRIPTION = (
    "Notifications for citizens and staff: the receipt (phiếu hẹn) when a dossier is accepted and "
    "every later change the applicant must hear of, in the in-app inbox (with a live feed), by email, "
    "by SMS and to portals by signed webhook; steps waiting for officers; SLA alerts for officers, "
    "managers and leaders, or a daily digest."
)


def create_app(
    settings: RuntimeSettings | None = None,
    *,
    span_processors: tuple[SpanProcessor, ...] = (),
    smtp: SmtpSettings | None = None,
    sms: SmsSettings | None = None,
    delivery: DeliverySettings | None = None,
    webhook: WebhookSettings | None = None,
    digest: DigestSettings | None = None,
    auth: AuthSettings | None = None,
    inbox_stream: InboxStreamSettings | None = None,
    cors: CorsSettings | None = None,
) -> FastAPI:
    runtime = ServiceRuntime(
        "notify", metadata, settings, migrations=history, span_processors=span_processors
    )
    app = create_service_app(
        runtime,
        title="motcua notify",
        routers=[
            router,
            inbox_router,
            alerts_router,
            preferences_router,
            reports_router,
            templates_router,
            demo_router,
        ],
        description=DESCRIPTION,
    )
    # Read by the couriers and handlers on every use, so that they can be replaced while the app
    # runs (the tests point them at their own servers).
    state = app.state
    state.smtp = smtp or SmtpSettings()
    state.sms = sms or SmsSettings()
    state.delivery = delivery or DeliverySettings()
    state.webhook = webhook or WebhookSettings()
    state.digest = digest or DigestSettings()
    state.auth = auth or AuthSettings()
    # A missing or weak secret stops the service here, not at its first request.
    state.auth.secret  # noqa: B018
    state.inbox_stream = inbox_stream or InboxStreamSettings()
    # The manager's board on processing's pages calls notify from the browser.
    state.cors_origins = (cors or CorsSettings()).origins
    app.add_middleware(StaffPagesCors)
    outcomes = delivery_outcomes(runtime.registry)
    couriers = Couriers(
        [
            Courier(runtime.db, sender, lambda: state.delivery, outcomes=outcomes)
            for sender in (
                EmailSender(lambda: state.smtp),
                SmsSender(lambda: state.sms),
                WebhookSender(lambda: state.webhook),
            )
        ]
    )
    state.couriers = couriers
    feed = InboxFeed()
    state.inbox_feed = feed
    renderer = TemplateRenderer()
    # One renderer for the handlers, the digest and the template admin routes.
    state.renderer = renderer
    register_handlers(
        runtime, couriers=couriers, webhooks=lambda: state.webhook, feed=feed, renderer=renderer
    )
    runtime.on_retention(
        partial(prune_notifications, db=runtime.db, settings=runtime.settings.retention), name="notifications"
    )
    runtime.add_worker(one_time_codes.eraser(runtime.db))
    digests = DigestWriter(runtime.db, renderer, couriers, lambda: state.digest)
    state.digests = digests

    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        # The couriers start after the database is open and stop before it closes.
        async with runtime_lifespan(started):
            feed.reopen()
            couriers.start()
            digests.start()
            try:
                yield
            finally:
                # Open inbox streams end first, so that the server is not kept waiting for them.
                feed.close()
                await digests.stop()
                await couriers.stop()

    app.router.lifespan_context = lifespan
    return app


def app_factory() -> FastAPI:
    return create_app()
