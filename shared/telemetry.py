"""Tracing: one trace from the HTTP request through the outbox and NATS into every consumer.

Spans are exported over OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise they are
still created (so trace ids reach the logs and the outbox) but go nowhere.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.personal_data import PersonalDataFilter


def create_tracer_provider(
    service: str, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"motcua-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return provider


# The dossier the current task is working on, for the logs.
current_dossier: ContextVar[str] = ContextVar("current_dossier", default="-")


class TraceContextFilter(logging.Filter):
    """Puts the current trace id and dossier code on every log record, so logs and traces meet."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.dossier = current_dossier.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(TraceContextFilter())
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [trace=%(trace_id)s dossier=%(dossier)s] %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic tells of its plugins and dialect on every start; shared.migrations says what it migrated.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
