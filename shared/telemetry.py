"""Tracing: one trace from the HTTP request through the outbox and NATS into every consumer.

Spans are exported over OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise none is
recorded, but each request and event still runs in a span context (so trace ids reach the logs and
the outbox, and ``traceparent`` the next service).
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Status
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.personal_data import PersonalDataFilter, install_log_masking, mask_personal_data

REDACTED = "REDACTED"
# Attributes that hold a request's URL or its query string, whose values are redacted whatever they
# hold: a query parameter may carry an identifier the masks cannot recognise.
_URL_ATTRIBUTES = frozenset({"http.url", "http.target", "url.full"})
_QUERY_ATTRIBUTES = frozenset({"url.query"})


def _redact_query(query: str) -> str:
    return urlencode([(name, REDACTED) for name, _ in parse_qsl(query, keep_blank_values=True)])


def _masked_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _QUERY_ATTRIBUTES:
        return _redact_query(value)
    if key in _URL_ATTRIBUTES and "?" in value:
        parts = urlsplit(value)
        value = urlunsplit(parts._replace(query=_redact_query(parts.query)))
    return mask_personal_data(value)


def _masked(attributes: Any) -> dict[str, Any]:
    return {key: _masked_value(key, value) for key, value in (attributes or {}).items()}


class PersonalDataSpanProcessor(SpanProcessor):
    """Hands ``inner`` each ended span with query values redacted and CCCDs, phone numbers and emails
    masked in its attributes, its events (an exception's message) and its status: no exporter, OTLP
    or test, ever sees personal data."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        status = span.status
        if status.description:
            status = Status(status.status_code, mask_personal_data(status.description))
        self.inner.on_end(
            ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=span.resource,
                attributes=_masked(span.attributes),
                events=[
                    Event(event.name, _masked(event.attributes), timestamp=event.timestamp)
                    for event in span.events
                ],
                links=span.links,
                kind=span.kind,
                status=status,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
            )
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def create_tracer_provider(
    service: str, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """The service's tracer provider. With somewhere to send spans (an OTLP endpoint, or
    ``extra_processors``) it samples as the standard ``OTEL_TRACES_SAMPLER`` variables say. With
    nowhere, it records nothing (a span nobody receives costs its attributes and processing for
    nothing) but still gives each span a context, so ``traceparent`` travels with requests and
    events and the logs keep their trace ids."""
    exporting = bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: f"motcua-{service}"}),
        sampler=None if exporting or extra_processors else ALWAYS_OFF,
    )
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(PersonalDataSpanProcessor(BatchSpanProcessor(OTLPSpanExporter())))
    for processor in extra_processors:
        provider.add_span_processor(PersonalDataSpanProcessor(processor))
    return provider


def records_spans(provider: TracerProvider) -> bool:
    """Whether ``provider`` (from ``create_tracer_provider``) has anywhere to send spans."""
    return provider.sampler is not ALWAYS_OFF


class TraceContextMiddleware:
    """Each HTTP request in a span context of its own, continuing the caller's ``traceparent``, for a
    service that records no spans: the logs, the outbox and the next service then carry the trace
    without the cost of the instrumentation's span, attributes and wrapped send."""

    def __init__(self, app: ASGIApp, *, provider: TracerProvider) -> None:
        self.app = app
        self.tracer = provider.get_tracer("motcua.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        parent = propagate.extract(carrier)
        span = self.tracer.start_span("request", context=parent, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
            span.end()


# The dossier the current task is working on, for the logs.
current_dossier: ContextVar[str] = ContextVar("current_dossier", default="-")


class TraceContextFilter(logging.Filter):
    """Puts the current trace id and dossier code on every log record, so logs and traces meet."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.dossier = current_dossier.get()
        return True


def configure_logging(level: int = logging.INFO, *, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (standard error by default) with its trace id and dossier
    code, and with personal data masked."""
    install_log_masking()
    handler = logging.StreamHandler(stream)
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
