"""What the SLA reconciliation reads of the SLA stream: every subject's last message, once, with its
headers, handed over as it arrives; nothing at all from an empty stream; and a failure while
taking a message ends the read with that failure instead of a stall."""

from __future__ import annotations

from collections.abc import Mapping

import nats
import pytest

from shared.bus.streams import SLA, ensure_streams, last_headers_by_subject
from shared.nats_server import NatsServer


async def test_each_subjects_last_headers_are_handed_over_once(nats_server: NatsServer) -> None:
    connection = await nats.connect(nats_server.url_for())
    try:
        js = connection.jetstream()
        await ensure_streams(js)
        seen: list[tuple[str, dict[str, str]]] = []

        def take(subject: str, headers: Mapping[str, str]) -> None:
            seen.append((subject, dict(headers)))

        await last_headers_by_subject(js, SLA.name, "sla.fired.>", each=take)
        assert seen == []

        for revision in (1, 2, 3):
            for number in range(50):
                await js.publish(f"sla.fired.D{number}.step.0.due.0", b"", headers={"Rev": str(revision)})
        await js.publish("sla.other.D1", b"", headers={"Rev": "9"})

        await last_headers_by_subject(js, SLA.name, "sla.fired.>", each=take)
        assert sorted(subject for subject, _headers in seen) == sorted(
            f"sla.fired.D{number}.step.0.due.0" for number in range(50)
        )
        assert all(headers["Rev"] == "3" for _subject, headers in seen)

        def refuse(subject: str, headers: Mapping[str, str]) -> None:
            raise ValueError(subject)

        with pytest.raises(ValueError):
            await last_headers_by_subject(js, SLA.name, "sla.fired.>", each=refuse, stall_seconds=1.0)
    finally:
        await connection.close()
