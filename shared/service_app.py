"""A service's HTTP app: its routers behind the body cap, the refusals answered in one way, health,
readiness and metrics, traced, and the internal port kept apart."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from shared.body_limit import BodyCap, BodyLimitMiddleware
from shared.errors import install_error_handlers
from shared.internal_port import InternalPortMiddleware
from shared.runtime import ServiceRuntime
from shared.telemetry import TraceContextMiddleware, records_spans


class Readiness(BaseModel):
    """``ok`` when the service can serve: its database answers and its bus is up."""

    status: str
    database: str
    nats: str


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    routers: Sequence[APIRouter],
    description: str = "",
    body_cap: BodyCap | None = None,
) -> FastAPI:
    """The service's HTTP app. Every request body is capped before routing, at
    ``MOTCUA_MAX_JSON_BODY_BYTES`` unless ``body_cap`` allows a request more (uploads)."""
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    json_cap = runtime.settings.http.max_json_body_bytes
    app.add_middleware(BodyLimitMiddleware, cap=body_cap or (lambda _scope: json_cap))
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.service}

    @app.get("/readyz", tags=["health"], responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", **checks}, 200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        async with runtime.db.session() as session:
            runtime.outbox_pending.set(await runtime.outbox.pending_count(session))
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)

    if records_spans(runtime.tracer_provider):
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=runtime.tracer_provider, excluded_urls="healthz,readyz,metrics"
        )
    else:
        app.add_middleware(TraceContextMiddleware, provider=runtime.tracer_provider)
    internal_port = runtime.settings.http.internal_port(runtime.service)
    if internal_port is not None:
        app.add_middleware(InternalPortMiddleware, internal_port=internal_port)
    return app
