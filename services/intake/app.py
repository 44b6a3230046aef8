"""The intake service: citizens browse procedures, submit dossiers and follow them."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor
from sqlalchemy import delete

from services.intake.api import router, upload_cap
from services.intake.citizen_api import router as citizen_router
from services.intake.citizen_sign_in import CitizenSettings, prune
from services.intake.file_retention import sweep_files
from services.intake.files import FileSettings, FileStore
from services.intake.handlers import register_handlers
from services.intake.migrations import history
from services.intake.models import metadata, object_upload
from services.intake.one_time_code import LIFETIME as ONE_TIME_CODE_LIFETIME
from services.intake.pages import mount_portal, portal_cap
from shared.bus.objects import ObjectUploads, jetstream_of, local_files
from shared.bus.outbox import ERASED_ONCE_SENT
from shared.events import utc_now
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.service_app import create_service_app
from shared.settings import AuthSettings


def create_app(
    settings: RuntimeSettings | None = None,
    *,
    span_processors: tuple[SpanProcessor, ...] = (),
    auth: AuthSettings | None = None,
    citizen: CitizenSettings | None = None,
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
    # The citizens' uploads go to the documents bucket, for processing's staff.
    uploads = ObjectUploads(
        object_upload,
        runtime.db,
        read_file=local_files(FileStore.in_data_dir(runtime.settings.common.data_dir, files).path),
        jetstream=lambda: jetstream_of(runtime),
    )
    runtime.add_worker(uploads.worker)
    citizen = citizen or CitizenSettings()
    runtime.on_retention(partial(sweep_sign_in, runtime=runtime, citizen=citizen), name="citizen sign-in")
    app = create_service_app(
        runtime,
        title="motcua intake",
        description="Citizens' side: the procedure catalog, dossier submission and status lookup.",
        routers=[router, citizen_router],
        body_cap=portal_cap(upload_cap(runtime.settings.http.max_json_body_bytes)),
    )
    app.state.auth = auth or AuthSettings()
    app.state.citizen_settings = citizen
    # Read from the environment once, not on every submission.
    app.state.intake_file_settings = files
    mount_portal(app)
    return app


async def sweep_sign_in(*, runtime: ServiceRuntime, citizen: CitizenSettings) -> None:
    """Prune rate-limit hits and dead challenges, and drop one-time codes never sent before they
    expired (NATS was away): a late code is useless, and it must not stay at rest."""
    windows = [citizen.codes_per_dossier_seconds, citizen.codes_per_ip_seconds]
    windows += [citizen.lookups_per_ip_seconds, citizen.lookups_per_dossier_seconds]
    table = runtime.outbox.table
    async with runtime.db.session() as session:
        await prune(session, keep_seconds=max(windows))
        await session.execute(
            delete(table).where(
                table.c.subject.in_(ERASED_ONCE_SENT),
                table.c.created_at < utc_now() - ONE_TIME_CODE_LIFETIME,
            )
        )


def app_factory() -> FastAPI:
    return create_app()
