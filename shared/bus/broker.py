"""The FastStream broker every service uses, with tracing and metrics middleware."""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.nats.security import NatsUserPassword
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from shared.bus.permissions import inbox_prefix
from shared.settings import NatsSettings

logger = logging.getLogger(__name__)


async def _log_nats_error(error: Exception) -> None:
    # nats-py prints whole tracebacks for every failed reconnect; one line is enough.
    logger.warning("nats: %r", error)


def create_broker(
    settings: NatsSettings,
    *,
    service: str,
    tracer_provider: TracerProvider,
    registry: CollectorRegistry,
    credentials: tuple[str, str] | None = None,
) -> NatsBroker:
    """The broker, connecting as the NATS user of ``credentials`` (or anonymously without them),
    with its replies under the service's own inbox prefix, which only its user may subscribe to."""
    security = None if credentials is None else NatsUserPassword(*credentials)
    return NatsBroker(
        settings.servers,
        name=f"motcua-{service}",
        security=security,
        inbox_prefix=inbox_prefix(service),
        # Never give up on NATS: the outbox holds events until it is back.
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        error_cb=_log_nats_error,
        middlewares=[
            NatsTelemetryMiddleware(tracer_provider=tracer_provider),
            NatsPrometheusMiddleware(registry=registry, app_name=f"motcua_{service}"),
        ],
        log_level=logging.DEBUG,
    )
