"""Files that one service hands to another through a JetStream Object Store bucket: processing's
electronic results for intake's portal, intake's uploads for processing's staff.

The bus carries the file, never the business: the transaction that gives a dossier a file also
writes an ``object_upload`` row naming it, and a background worker puts the file into its bucket
and deletes the row once the bucket has it, as the outbox relay does with events. A service whose
NATS is away keeps approving and accepting uploads; its rows wait, and go out when NATS is back.
Putting the same object again replaces it with the same bytes, so a row put twice (two replicas, a
crash between the put and the delete) harms nothing.

Names are logged, never the files' contents; a name holds a dossier code and a sha256 only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import NotFoundError
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus.streams import BucketSpec
from shared.db import Database, UtcDateTime
from shared.events import utc_now
from shared.worker import BackgroundWorker

if TYPE_CHECKING:
    from shared.runtime import ServiceRuntime

logger = logging.getLogger(__name__)

# Read from the local store when the worker puts it (``None``: not kept here).
FileReader = Callable[[str], Awaitable[bytes | None]]
BATCH = 20
# A commit in this process wakes the worker at once; the poll finds rows another replica wrote.
IDLE_SECONDS = 5.0
FETCH_SECONDS = 30.0
# How long a queued file that this replica cannot read waits for one that can, before it is dropped.
GIVE_UP_AFTER = timedelta(days=1)


def object_upload_table(metadata: MetaData) -> Table:
    if "object_upload" in metadata.tables:  # a second app of the same service in one process
        return metadata.tables["object_upload"]
    return Table(
        "object_upload",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("bucket", String(32), nullable=False),
        Column("name", String(160), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("media_type", String(100), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        UniqueConstraint("bucket", "name", name="uq_object_upload_bucket_name"),
    )


async def queue_upload(
    session: AsyncSession, table: Table, *, bucket: BucketSpec, name: str, sha256: str, media_type: str
) -> None:
    """Queue the file of ``sha256`` for ``bucket`` under ``name``, in the caller's transaction. A
    name already queued is left as it is."""
    pending = await session.execute(
        select(table.c.id).where(table.c.bucket == bucket.bucket, table.c.name == name)
    )
    if pending.first() is not None:
        return
    await session.execute(
        insert(table).values(
            bucket=bucket.bucket, name=name, sha256=sha256, media_type=media_type, created_at=utc_now()
        )
    )


def local_files(path_of: Callable[[str], Path]) -> FileReader:
    """Read a file kept on this machine by its sha256 (``None`` once it is gone)."""

    async def read(sha256: str) -> bytes | None:
        try:
            return await asyncio.to_thread(path_of(sha256).read_bytes)
        except (FileNotFoundError, ValueError):
            return None

    return read


def jetstream_of(runtime: ServiceRuntime) -> JetStreamContext | None:
    """The service's JetStream context while its bus is up, else ``None``."""
    return runtime.broker.config.connection_state.stream if runtime.bus_up else None


@dataclass(frozen=True)
class StoredObject:
    content: bytes
    media_type: str


class BusAway(Exception):
    """NATS is not reachable now: the file cannot be read from its bucket."""


@dataclass
class ObjectUploads:
    """The rows of files waiting for their bucket, and the worker that puts them there."""

    table: Table
    db: Database
    read_file: FileReader
    jetstream: Callable[[], JetStreamContext | None]

    def __post_init__(self) -> None:
        self.worker = BackgroundWorker("object-uploads", self.upload_pass)

    async def add(
        self, session: AsyncSession, *, bucket: BucketSpec, name: str, sha256: str, media_type: str
    ) -> None:
        """``queue_upload`` in the caller's transaction, and the worker woken once it commits."""
        await queue_upload(
            session, self.table, bucket=bucket, name=name, sha256=sha256, media_type=media_type
        )
        self.worker.wake_after_commit(session)

    async def upload_pass(self) -> float:
        """Put up to a batch of queued files into their buckets; the next pass comes at once while
        rows remain, after ``IDLE_SECONDS`` otherwise (or when a commit wakes the worker)."""
        js = self.jetstream()
        if js is None:
            return IDLE_SECONDS
        async with self.db.reading() as session:
            rows = (await session.execute(select(self.table).order_by(self.table.c.id).limit(BATCH))).all()
        left = 0
        for row in rows:
            if self.worker.stopping:
                break
            content = await self.read_file(row.sha256)
            if content is not None:
                try:
                    store = await js.object_store(row.bucket)
                    await store.put(
                        row.name, content, meta=ObjectMeta(name=row.name, description=row.media_type)
                    )
                except (NatsError, TimeoutError) as exc:
                    # The row stays for a later pass; the others of this one go on.
                    left += 1
                    logger.warning("file %s not put into bucket %s yet: %r", row.name, row.bucket, exc)
                    continue
                logger.info("file %s put into bucket %s", row.name, row.bucket)
            elif row.created_at > utc_now() - GIVE_UP_AFTER:
                # Kept on a disk this replica does not see (a replica of its own without the shared
                # volume): the replica that stored it puts it.
                left += 1
                continue
            else:
                logger.warning("file %s for bucket %s is not kept any more; dropped", row.name, row.bucket)
            async with self.db.session() as session:
                await session.execute(delete(self.table).where(self.table.c.id == row.id))
        return 0.0 if len(rows) == BATCH and not left else IDLE_SECONDS


async def fetch(js: JetStreamContext | None, bucket: BucketSpec, name: str) -> StoredObject | None:
    """The object ``name`` of ``bucket``, or ``None`` when the bucket does not have it (yet).
    Raises ``BusAway`` without NATS."""
    if js is None:
        raise BusAway(bucket.bucket)
    try:
        store = await js.object_store(bucket.bucket)
        result = await asyncio.wait_for(store.get(name), FETCH_SECONDS)
    except NotFoundError:  # the object, or the bucket no service has declared yet
        return None
    except (NatsError, TimeoutError) as exc:
        raise BusAway(bucket.bucket) from exc
    description = result.info.description or "application/octet-stream"
    return StoredObject(content=result.data or b"", media_type=description)
