"""The intake service: citizens browse procedures, submit dossiers and follow them."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.intake.api import router, upload_cap
from services.intake.file_retention import sweep_files
from services.intake.files import FileSettings, FileStore
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
    files = FileSettings()
    runtime.on_retention(
        partial(
            sweep_files,
            db=runtime.db,
            store=FileStore.in_data_dir(runtime.settings.common.data_dir, files),
            grace_seconds=files.orphan_grace_seconds,
        ),
        name="stored files",
    )
    return runtime.create_app(
        title="motcua intake",
        description="Citizens' side: the procedure catalog, dossier submission and status lookup.",
        routers=[router],
        body_cap=upload_cap(runtime.settings.http.max_json_body_bytes),
    )


def app_factory() -> FastAPI:
    return create_app()
