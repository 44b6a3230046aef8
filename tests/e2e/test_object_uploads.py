"""The upload queue of ``shared.bus.objects`` on a real nats-server: a file waits in its row while
NATS is away and reaches its bucket once NATS is back, a file this replica cannot read waits for
one that can (a day at most), and each service's NATS user puts files only into its own bucket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from sqlalchemy import MetaData, func, select, update

from shared.bus.objects import GIVE_UP_AFTER, IDLE_SECONDS, ObjectUploads, fetch, object_upload_table
from shared.bus.streams import DOCUMENTS, RESULTS, ensure_streams
from shared.db import Database
from shared.events import utc_now
from shared.nats_server import NatsServer
from tests.e2e.test_bus_permissions import Violations, connected

PDF = b"%PDF-1.7\n% a result\n%%EOF\n"
DIGEST = "ab" * 32


@pytest.fixture
async def streams(nats_server: NatsServer) -> NatsServer:
    async with connected(nats_server, "operator") as client:
        await ensure_streams(client.jetstream())
    return nats_server


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[tuple[Database, MetaData]]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'uploads.db'}")
    metadata = MetaData()
    object_upload_table(metadata)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield database, metadata
    finally:
        await database.dispose()


async def waiting(database: Database, uploads: ObjectUploads) -> int:
    async with database.reading() as session:
        return int((await session.execute(select(func.count()).select_from(uploads.table))).scalar_one())


async def test_a_file_waits_while_nats_is_away_and_reaches_its_bucket_once_it_is_back(
    streams: NatsServer, queue: tuple[Database, MetaData]
) -> None:
    database, metadata = queue
    kept = {DIGEST: PDF}
    bus: list[JetStreamContext | None] = [None]

    async def read(sha256: str) -> bytes | None:
        return kept.get(sha256)

    uploads = ObjectUploads(object_upload_table(metadata), database, read_file=read, jetstream=lambda: bus[0])
    async with database.session() as session:
        await uploads.add(
            session,
            bucket=RESULTS,
            name="000.00.06.H56-261207-0001",
            sha256=DIGEST,
            media_type="application/pdf",
        )
    assert await uploads.upload_pass() == IDLE_SECONDS
    assert await waiting(database, uploads) == 1

    async with connected(streams, "processing") as processing, connected(streams, "intake") as intake:
        bus[0] = processing.jetstream()
        await uploads.upload_pass()
        assert await waiting(database, uploads) == 0
        stored = await fetch(intake.jetstream(), RESULTS, "000.00.06.H56-261207-0001")
        assert stored is not None and stored.content == PDF and stored.media_type == "application/pdf"
        assert await fetch(intake.jetstream(), RESULTS, "000.00.06.H56-261207-0002") is None


async def test_a_file_this_replica_cannot_read_waits_for_another_and_is_dropped_after_a_day(
    streams: NatsServer, queue: tuple[Database, MetaData]
) -> None:
    database, metadata = queue

    async def gone(_sha256: str) -> bytes | None:
        return None

    async with connected(streams, "intake") as intake:
        js = intake.jetstream()
        uploads = ObjectUploads(object_upload_table(metadata), database, read_file=gone, jetstream=lambda: js)
        async with database.session() as session:
            for name in ("X-new", "X-old"):
                await uploads.add(
                    session, bucket=DOCUMENTS, name=f"{name}/{DIGEST}", sha256=DIGEST, media_type="image/png"
                )
            await session.execute(
                update(uploads.table)
                .where(uploads.table.c.name == f"X-old/{DIGEST}")
                .values(created_at=utc_now() - GIVE_UP_AFTER - timedelta(minutes=1))
            )
        assert await uploads.upload_pass() == IDLE_SECONDS
        async with database.reading() as session:
            names = (await session.execute(select(uploads.table.c.name))).scalars().all()
        assert names == [f"X-new/{DIGEST}"]
        assert await fetch(js, DOCUMENTS, f"X-old/{DIGEST}") is None


async def test_each_service_puts_files_only_into_its_own_bucket(streams: NatsServer) -> None:
    # A reader of the bucket is refused the chunk it writes; notify, which reads no bucket, is
    # refused already the look-up of the object's description that comes first.
    refusals = (
        ("intake", RESULTS, '"$o.results.c.'),
        ("processing", DOCUMENTS, '"$o.documents.c.'),
        ("notify", RESULTS, '"$js.api.stream.msg.get.obj_results"'),
    )
    for user, bucket, subject in refusals:
        violations = Violations()
        async with connected(streams, user, violations) as client:
            store = await client.jetstream().object_store(bucket.bucket)
            # The server drops the message and says why; the client waits for a reply in vain.
            with pytest.raises((NatsError, TimeoutError)):
                await asyncio.wait_for(store.put("forged", PDF, meta=ObjectMeta(name="forged")), 3)
            await asyncio.sleep(0.1)
        wanted = f"permissions violation for publish to {subject}"
        assert any(wanted in error.lower() for error in violations.errors), (user, violations.errors)
    async with connected(streams, "operator") as operator:
        for bucket in (RESULTS, DOCUMENTS):
            assert (await operator.jetstream().stream_info(bucket.name)).state.messages == 0
