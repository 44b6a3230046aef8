"""A dossier's walk leaves no CCCD, phone number or email of its applicant in the logs or the spans,
with the services' own log handler and the spans as every exporter receives them.

End-to-end over a real nats-server: the logs and spans of all three services and the bus between.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from shared.telemetry import configure_logging
from tests.system import APPLICANT, System, accept_a_dossier, citizen_headers

PERSONAL = (APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["email"])


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """Everything the services log at DEBUG, through the handler ``motcua serve`` installs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    captured = io.StringIO()
    configure_logging(logging.DEBUG, stream=captured)
    try:
        yield captured
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_a_walk_leaves_no_personal_data_in_the_logs_or_the_spans(
    system: System, service_logs: io.StringIO
) -> None:
    code = await accept_a_dossier(system)
    citizen = citizen_headers(APPLICANT["id_number"])
    looked_up = await system.intake.post(
        "/api/v1/lookup", json={"code": code, "id_number": APPLICANT["id_number"]}
    )
    assert looked_up.status_code == 200, looked_up.text
    asked = await system.intake.post(
        "/api/v1/citizen/one-time-codes", json={"dossier_code": code, "id_number": APPLICANT["id_number"]}
    )
    assert asked.status_code == 202, asked.text
    # A request the services refuse, carrying the identifiers where they no longer belong.
    await system.notify.get(
        "/api/v1/notifications", params={"recipient": APPLICANT["phone"]}, headers=citizen
    )
    assert await system.notifications(citizen, channel="inbox")

    logs = service_logs.getvalue()
    assert code in logs, "the walk logged nothing: the capture is not the services' handler"
    spans = system.spans.get_finished_spans()
    assert spans
    span_text = "\n".join(
        repr(dict(span.attributes or {}))
        + repr([dict(event.attributes or {}) for event in span.events])
        + (span.status.description or "")
        for span in spans
    )
    for personal in PERSONAL:
        assert personal not in logs
        assert personal not in span_text
