"""Spans cost nothing where nobody receives them, and traces still travel.

Without an exporter a service records no span, but each span has a context, so ``traceparent``
goes out with requests and events and the next service continues the same trace. With somewhere to
send them, spans are sampled as the standard ``OTEL_TRACES_SAMPLER`` variables say.
"""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.telemetry import TraceContextMiddleware, create_tracer_provider, records_spans


@pytest.fixture(autouse=True)
def no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)


def test_without_an_exporter_nothing_is_recorded_but_the_trace_travels() -> None:
    sender = create_tracer_provider("intake").get_tracer("test")
    receiver = create_tracer_provider("processing").get_tracer("test")
    carrier: dict[str, str] = {}
    with sender.start_as_current_span("submit") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
        propagate.inject(carrier)
    assert carrier["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")

    with receiver.start_as_current_span("register", context=propagate.extract(carrier)) as received:
        assert not received.is_recording()
        assert received.get_span_context().trace_id == span.get_span_context().trace_id


def test_with_somewhere_to_send_them_spans_are_recorded() -> None:
    exported = InMemorySpanExporter()
    tracer = create_tracer_provider("intake", extra_processors=(SimpleSpanProcessor(exported),)).get_tracer(
        "t"
    )
    with tracer.start_as_current_span("submit") as span:
        assert span.is_recording()
    assert [item.name for item in exported.get_finished_spans()] == ["submit"]


def test_the_standard_sampler_variable_is_honoured_when_spans_are_exported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exported = InMemorySpanExporter()
    tracer = create_tracer_provider("intake", extra_processors=(SimpleSpanProcessor(exported),)).get_tracer(
        "t"
    )
    with tracer.start_as_current_span("submit") as span:
        assert not span.is_recording()
    assert exported.get_finished_spans() == ()


def _echo_trace_app() -> Starlette:
    """An app without an exporter that answers with the ``traceparent`` it would put on the events
    it publishes."""

    async def echo(_request: Request) -> JSONResponse:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return JSONResponse(carrier)

    provider = create_tracer_provider("intake")
    assert not records_spans(provider)
    app = Starlette(routes=[Route("/", echo)])
    app.add_middleware(TraceContextMiddleware, provider=provider)
    return app


async def test_without_an_exporter_a_request_continues_its_callers_trace() -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    transport = httpx.ASGITransport(app=_echo_trace_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        continued = (
            await client.get("/", headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
        ).json()
        first, second = (await client.get("/")).json(), (await client.get("/")).json()
    version, trace_id, span_id, _flags = continued["traceparent"].split("-")
    assert (version, trace_id) == ("00", caller_trace)
    assert span_id != "00f067aa0ba902b7"  # the request's own span, under the caller's
    # Without a caller, each request starts a trace of its own.
    assert first["traceparent"].split("-")[1] != second["traceparent"].split("-")[1]


def test_a_service_without_an_exporter_skips_the_instrumentation_and_keeps_the_context() -> None:
    assert records_spans(create_tracer_provider("intake")) is False
    from services.intake.app import create_app

    app = create_app()
    classes = {item.cls for item in app.user_middleware}
    assert TraceContextMiddleware in classes
    assert not any("OpenTelemetry" in getattr(cls, "__name__", "") for cls in classes)
