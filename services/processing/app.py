"""The processing service: catalog, directory, officers' work on dossiers."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.processing import sla
from services.processing.admin_api import router as admin_router
from services.processing.api import router
from services.processing.catalog import publish_catalog, seed_catalog
from services.processing.directory import publish_directory, seed_directory
from services.processing.handlers import register_handlers
from services.processing.migrations import history
from services.processing.models import metadata
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import AuthSettings

logger = logging.getLogger(__name__)


def create_app(
    settings: RuntimeSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    span_processors: tuple[SpanProcessor, ...] = (),
) -> FastAPI:
    runtime = ServiceRuntime(
        "processing", metadata, settings, migrations=history, span_processors=span_processors
    )

    async def seed() -> None:
        async with runtime.db.session() as session:
            await seed_directory(session)
            await publish_directory(session, runtime.outbox)
            await publish_catalog(session, runtime.outbox, seed_catalog())

    async def reconcile_timers() -> None:
        armed = await sla.reconcile(runtime.db, runtime.outbox)
        logger.info("SLA timers re-armed for %d open dossier(s)", armed)

    runtime.on_start(seed)
    runtime.on_start(reconcile_timers)
    register_handlers(runtime)
    app = runtime.create_app(
        title="motcua processing",
        description="Officers' work on dossiers: reception, the procedure catalog and the directory.",
        routers=[router, admin_router],
    )
    app.state.auth = auth or AuthSettings()
    return app


def app_factory() -> FastAPI:
    return create_app()
