"""Personal data is masked out of error text before it leaves the database (dead-letter headers)."""

from __future__ import annotations

import logging
import sys

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from shared.bus.consumer import DEAD_ERROR, ConsumerSpec, dead_letter_headers
from shared.personal_data import PersonalDataFilter, mask_personal_data
from shared.telemetry import create_tracer_provider


def test_cccd_phone_and_email_are_masked() -> None:
    text = "IntegrityError [parameters: ('049090001234', '0905123456', '+84905123456', 'an@example.vn')]"
    masked = mask_personal_data(text)
    for secret in ("049090001234", "0905123456", "905123456", "an@example.vn"):
        assert secret not in masked
    assert masked.count("<cccd>") == 1 and masked.count("<phone>") == 2 and "<email>" in masked


def test_codes_and_ordinary_numbers_are_left_alone() -> None:
    text = "dossier 000.00.06.H56-261127-0001 failed after 6 deliveries, sequence 12345"
    assert mask_personal_data(text) == text


def test_the_dead_letter_error_header_is_masked() -> None:
    spec = ConsumerSpec(
        service="intake",
        subject="dossier.submitted",
        max_deliver=2,
        ack_wait_seconds=30,
        handler_timeout_seconds=60,
        concurrency=1,
    )
    headers = dead_letter_headers(
        {}, spec=spec, subject="dossier.submitted", sequence=1, error="bad row 049090001234", deliveries=2
    )
    assert headers[DEAD_ERROR] == "bad row <cccd>"


def test_log_records_are_masked_in_their_message_arguments_and_traceback() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "lookup by %s failed", ("049090001234",), None
    )
    try:
        raise ValueError("phone 0905123456")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert PersonalDataFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "049090001234" not in formatted and "0905123456" not in formatted
    assert "lookup by <cccd> failed" in formatted and "phone <phone>" in formatted


def test_spans_reach_exporters_with_query_values_redacted_and_personal_data_masked() -> None:
    exported = InMemorySpanExporter()
    provider = create_tracer_provider("intake", extra_processors=(SimpleSpanProcessor(exported),))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span(
        "GET /api/v1/dossiers/{code}",
        attributes={
            "url.query": "id_number=049090001234&page=2",
            "http.target": "/api/v1/notifications?recipient=0905123456",
            "http.route": "/api/v1/dossiers/{code}",
            "messaging.message.id": "1b2c3d4e-aaaa-bbbb-cccc-123456789012",
        },
    ) as span:
        span.record_exception(ValueError("no dossier for an@example.vn, 049090001234"))
        span.set_status(Status(StatusCode.ERROR, "duplicate key (phone)=(0905123456)"))
    provider.shutdown()

    [finished] = exported.get_finished_spans()
    attributes = dict(finished.attributes or {})
    assert attributes["url.query"] == "id_number=REDACTED&page=REDACTED"
    assert attributes["http.target"] == "/api/v1/notifications?recipient=REDACTED"
    assert attributes["http.route"] == "/api/v1/dossiers/{code}"
    assert attributes["messaging.message.id"] == "1b2c3d4e-aaaa-bbbb-cccc-123456789012"
    text = repr(attributes) + repr([dict(event.attributes or {}) for event in finished.events])
    text += finished.status.description or ""
    for personal in ("049090001234", "0905123456", "an@example.vn"):
        assert personal not in text
    assert "<cccd>" in text and "<phone>" in text and "<email>" in text
