"""The processing service: catalog, directory, officers' work on dossiers."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import SpanProcessor

from services.processing import sla_reconcile
from services.processing.admin_api import router as admin_router
from services.processing.api import router
from services.processing.catalog import publish_catalog
from services.processing.directory import publish_directory
from services.processing.handlers import register_handlers
from services.processing.migrations import history
from services.processing.models import metadata, object_upload
from services.processing.pages import board, documents, reports_page, staff_pages, workspace
from services.processing.reports.api import router as reports_router
from services.processing.result_files import result_files_in
from services.processing.seed import seed_catalog, seed_directory
from services.processing.settings import SlaSettings
from services.processing.sign_in import routes as sign_in_routes
from services.processing.sign_in.demo import seed_demo_passwords
from services.processing.sign_in.settings import SignInSettings
from services.processing.sign_in.web import install_sign_in
from shared.bus.objects import ObjectUploads, jetstream_of, local_files
from shared.events import utc_now
from shared.pages import mount_pages
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.service_app import create_service_app
from shared.settings import AuthSettings
from shared.vietnam_time import in_vietnam
from shared.working_time import load_holidays


def create_app(
    settings: RuntimeSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    sla_settings: SlaSettings | None = None,
    sign_in: SignInSettings | None = None,
    span_processors: tuple[SpanProcessor, ...] = (),
) -> FastAPI:
    runtime = ServiceRuntime(
        "processing", metadata, settings, migrations=history, span_processors=span_processors
    )

    demo = runtime.settings.common.demo

    async def seed() -> None:
        async with runtime.db.session() as session:
            await seed_directory(session, demo=demo)
            await publish_directory(session, runtime.outbox)
            await publish_catalog(session, runtime.outbox, seed_catalog(demo=demo))
            if demo:
                await seed_demo_passwords(session)

    async def load_calendar() -> None:
        load_holidays(in_vietnam(utc_now()).date())

    runtime.on_start(seed)
    runtime.on_start(load_calendar)
    runtime.add_worker(sla_reconcile.Reconciler(runtime, settings=sla_settings or SlaSettings()).worker)
    register_handlers(runtime)
    # Electronic results go to the results bucket, for intake's portal.
    uploads = ObjectUploads(
        object_upload,
        runtime.db,
        read_file=local_files(result_files_in(runtime.settings.common.data_dir).path_of),
        jetstream=lambda: jetstream_of(runtime),
    )
    runtime.add_worker(uploads.worker)
    app = create_service_app(
        runtime,
        title="motcua processing",
        description="Officers' work on dossiers: reception, the procedure catalog and the directory.",
        routers=[
            router,
            admin_router,
            reports_router,
            sign_in_routes.admin,
            sign_in_routes.pages,
            workspace.router,
            documents.router,
            board.router,
            reports_page.router,
        ],
        body_cap=workspace.body_cap(runtime.settings.http.max_json_body_bytes),
    )
    app.state.object_uploads = uploads
    install_sign_in(app, sign_in)
    mount_pages(app, staff_pages())
    app.state.auth = auth or AuthSettings()
    # A missing or weak secret stops the service here, not at its first request.
    app.state.auth.secret  # noqa: B018
    return app


def app_factory() -> FastAPI:
    return create_app()
