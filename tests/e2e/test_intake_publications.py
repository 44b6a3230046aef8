"""What intake publishes reaches the bus as it was written: the citizen's withdrawal request is one
message with the event's own id, and asking again publishes nothing more.

End-to-end over a real nats-server: the point is the message on the stream.
"""

from __future__ import annotations

import json
from typing import Any

import nats

from shared.nats_server import NatsServer
from tests.conftest import eventually
from tests.service.test_intake_citizen import OTHER_CITIZEN, lookup, outbox_rows
from tests.system import System, citizen_headers


async def test_withdrawal_is_published_once_and_only_for_the_applicant(
    system: System, nats_server: NatsServer
) -> None:
    code = (await system.submit())["code"]
    url = f"/api/v1/dossiers/{code}/withdrawal"

    stranger = await system.intake.post(url, json={}, headers=citizen_headers(OTHER_CITIZEN))
    assert stranger.status_code == 404
    assert stranger.json() == (await lookup(system, code, OTHER_CITIZEN)).json()

    response = await system.intake.post(
        url, json={"reason": "Đã nộp nhầm thủ tục"}, headers=citizen_headers()
    )
    assert response.status_code == 202, response.text
    view = response.json()
    assert view["withdrawal_requested_at"] is not None
    assert view["history"][-1]["event_type"] == "dossier.withdrawal.requested"
    assert "Đã nộp nhầm thủ tục" in view["history"][-1]["note"]

    async def sent() -> dict[str, Any]:
        [row] = await outbox_rows(system, "dossier.withdrawal.requested")
        assert row["sent_at"] is not None
        return row

    row = await eventually(sent)
    connection = await nats.connect(nats_server.url_for())
    try:
        message = await connection.jetstream().get_last_msg("DOSSIER", "dossier.withdrawal.requested")
    finally:
        await connection.close()
    event = json.loads(message.data)
    assert event["event_id"] == row["event_id"]
    assert (event["dossier_code"], event["reason"], event["version"]) == (code, "Đã nộp nhầm thủ tục", 1)

    again = await system.intake.post(url, json={}, headers=citizen_headers())
    assert again.status_code == 409
    assert "already requested" in again.json()["detail"]
    assert len(await outbox_rows(system, "dossier.withdrawal.requested")) == 1
