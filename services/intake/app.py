"""The intake service: citizens browse procedures, submit dossiers and follow them."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.intake.api import router
from services.intake.handlers import register_handlers
from services.intake.migrations import history
from services.intake.models import metadata
from shared.runtime import RuntimeSettings, ServiceRuntime


def create_app(
    settings: RuntimeSettings | None = None, *, span_processors: tuple[SpanProcessor, ...] = ()
) -> FastAPI:
    runtime = ServiceRuntime(
        "intake", metadata, settings, migrations=history, span_processors=span_processors
    )
    register_handlers(runtime)
    return runtime.create_app(
        title="motcua intake",
        description="Citizens' side: the procedure catalog, dossier submission and status lookup.",
        routers=[router],
    )


def app_factory() -> FastAPI:
    return create_app()
