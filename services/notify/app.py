"""The notify service: turns dossier events into notifications for citizens and staff.

Run with ``uvicorn --factory services.notify.app:app_factory``.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.notify.api import router
from services.notify.handlers import register_handlers
from services.notify.models import metadata
from shared.runtime import RuntimeSettings, ServiceRuntime

DESCRIPTION = (
    "Notifications for citizens and staff: the receipt (phiếu hẹn) when a dossier is accepted, "
    "the notice when it is refused, read from the in-app inbox."
)


def create_app(
    settings: RuntimeSettings | None = None, *, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    runtime = ServiceRuntime("notify", metadata, settings, span_processors=span_processors)
    register_handlers(runtime)
    return runtime.create_app(title="motcua notify", routers=[router], description=DESCRIPTION)


def app_factory() -> FastAPI:
    return create_app()
