"""A citizen's walk from submission to acceptance leaves no CCCD or phone number in any log record,
span attribute or event, or dead-letter header, even where a handler fails on the applicant's data
and its error text quotes it.

Integration tier: the bus is under test (the dead letter's headers are written by the consumer).
"""

from __future__ import annotations

import logging
from typing import Any

import nats
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.notifications import Notifying
from shared.bus.dead_letter import list_dead_letters
from shared.events import Event
from shared.nats_server import NatsServer
from tests.conftest import eventually
from tests.system import APPLICANT, System

PERSONAL = [APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["email"]]


def leaks(text: object) -> list[str]:
    return [value for value in PERSONAL if value in str(text)]


async def test_a_walk_and_its_dead_letter_leave_no_personal_data_in_logs_spans_or_headers(
    system: System, nats_server: NatsServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Notifying.add

    async def failing_on_acceptance(self: Notifying, session: AsyncSession, event: Event) -> None:
        if event.type == "dossier.accepted":
            # What a careless error message looks like: it quotes the applicant.
            raise ValueError(
                f"no contact for {APPLICANT['id_number']}, {APPLICANT['phone']}, {APPLICANT['email']}"
            )
        await original(self, session, event)

    monkeypatch.setattr(Notifying, "add", failing_on_acceptance)
    with caplog.at_level(logging.DEBUG):
        created = await system.submit()
        code = created["code"]
        await system.registered(code)
        accepted = await system.processing.post(
            f"/api/v1/dossiers/{code}/accept",
            json={"note": "Hồ sơ đầy đủ"},
            headers=system.auth("demo-officer"),
        )
        assert accepted.status_code == 200, accepted.text
        # An old client still sending identifiers in a query string.
        listed = await system.intake.get(
            "/api/v1/procedures", params={"id_number": APPLICANT["id_number"], "phone": APPLICANT["phone"]}
        )
        assert listed.status_code == 200

        client = await nats.connect(nats_server.url_for())
        try:
            js = client.jetstream()

            async def dead_lettered() -> list[Any]:
                letters = [
                    letter for letter in await list_dead_letters(js) if letter.consumer.startswith("notify")
                ]
                assert letters
                return letters

            letters = await eventually(dead_lettered, timeout=30)
        finally:
            await client.close()

    [letter] = letters
    assert "no contact for <cccd>, <phone>, <email>" in letter.error
    assert not leaks(letter.headers), letter.headers

    assert caplog.records
    for record in caplog.records:
        assert not leaks(record.getMessage()), record.getMessage()
        assert not leaks(record.exc_text or ""), record.exc_text

    spans = system.spans.get_finished_spans()
    assert any("REDACTED" in str(span.attributes) for span in spans)
    for span in spans:
        assert not leaks(span.attributes), (span.name, span.attributes)
        for event in span.events:
            assert not leaks(event.attributes), (span.name, event.name, event.attributes)
