"""Spans cost nothing where nobody receives them, and traces still travel.

Without an exporter a service records no span, but each span has a context, so ``traceparent``
goes out with requests and events and the next service continues the same trace. With somewhere to
send them, spans are sampled as the standard ``OTEL_TRACES_SAMPLER`` variables say.
"""

from __future__ import annotations

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import create_tracer_provider


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
