"""The streams as declared reach the server once: a changed retention setting updates the stream
it names, and a start that finds every stream as declared proposes no change to any of them (on a
cluster each change is written by every replica, so replicas starting together must not each
propose every stream again)."""

from __future__ import annotations

from typing import Any

import nats
import pytest

from shared.bus.streams import BUCKETS, DOSSIER, ensure_streams
from shared.nats_server import NatsServer
from shared.settings import RetentionSettings

DAY = 24 * 3600.0


async def test_a_changed_retention_updates_its_stream_and_an_unchanged_start_updates_none(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = await nats.connect(nats_server.url_for())
    try:
        js = connection.jetstream()
        await ensure_streams(js, retention=RetentionSettings(dossier_stream_days=1825))
        assert (await js.stream_info(DOSSIER.name)).config.max_age == 1825 * DAY

        updated: list[str] = []
        update_stream = js.update_stream

        async def counted(config: Any = None, **params: Any) -> Any:
            updated.append(config.name)
            return await update_stream(config, **params)

        monkeypatch.setattr(js, "update_stream", counted)
        await ensure_streams(js, retention=RetentionSettings(dossier_stream_days=1825))
        assert updated == []

        await ensure_streams(js, retention=RetentionSettings(dossier_stream_days=3650))
        # The buckets' files belong to the dossiers' records and are kept as their events are.
        assert updated == [DOSSIER.name, *(bucket.name for bucket in BUCKETS)]
        assert (await js.stream_info(DOSSIER.name)).config.max_age == 3650 * DAY
    finally:
        await connection.close()
