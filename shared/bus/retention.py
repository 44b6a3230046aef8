"""Retention: the outbox and the inbox only ever grow, so once in a while each service deletes the
rows nobody needs any more. A sent outbox row is history once NATS has the message (its duplicate
window is minutes); an inbox row guards against a redelivery or a dead letter replayed, which after
the retention period would be an operator's deliberate act.

A service adds what else it must clear out once in a while (intake: files no row refers to) as a
sweep of the same pass, so there is one hourly pass per replica rather than a loop per concern.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import ColumnElement, Table, delete, select, tuple_

from shared.db import Database
from shared.events import utc_now
from shared.settings import RetentionSettings
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)

# Deletes what is past its keep of one kind and logs how much (counts only); what it returns is
# not read. It may run on every replica at once, so it must tolerate finding its work done.
RetentionSweep = Callable[[], Awaitable[object]]

# Rows deleted in one transaction. A pass deletes an hour's worth, or more after a long stop; in
# bounded batches it never holds a table (or SQLite's one writer, and on SQLite the event loop,
# ``shared.sqlite_on_loop``) for long, and other work gets its turns between them.
DELETE_BATCH = 2000


class Pruner:
    def __init__(self, db: Database, *, outbox: Table, inbox: Table, settings: RetentionSettings) -> None:
        self.db = db
        self.outbox = outbox
        self.inbox = inbox
        self.settings = settings
        self.sweeps: list[tuple[str, RetentionSweep]] = []
        self.worker = BackgroundWorker("retention", self.prune)

    def add_sweep(self, sweep: RetentionSweep, *, name: str) -> None:
        self.sweeps.append((name, sweep))

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def prune(self) -> float:
        """Delete what is past retention; returns how long to wait before the next pass."""
        now = utc_now()
        outbox_before = now - timedelta(days=self.settings.outbox_days)
        inbox_before = now - timedelta(days=self.settings.inbox_days)
        outbox = self.outbox.c
        inbox = self.inbox.c
        outbox_rows = await self._delete(
            self.outbox, (outbox.id,), outbox.sent_at.is_not(None), outbox.sent_at < outbox_before
        )
        inbox_rows = await self._delete(
            self.inbox, (inbox.consumer, inbox.event_id), inbox.processed_at < inbox_before
        )
        if outbox_rows or inbox_rows:
            logger.info("retention: %d sent outbox and %d inbox row(s) deleted", outbox_rows, inbox_rows)
        for name, sweep in self.sweeps:
            # One sweep failing (a file system away) does not stop the others; the next pass retries.
            try:
                await sweep()
            except Exception:
                logger.exception("retention: the %s sweep failed", name)
        return self.settings.interval_seconds

    async def _delete(
        self, table: Table, key: tuple[ColumnElement[object], ...], *conditions: ColumnElement[bool]
    ) -> int:
        """Delete the rows of ``table`` that meet ``conditions``, ``DELETE_BATCH`` at a time, each
        batch in a transaction of its own; how many were deleted."""
        chosen = select(*key).where(*conditions).limit(DELETE_BATCH)
        which = key[0].in_(chosen) if len(key) == 1 else tuple_(*key).in_(chosen)
        deleted = 0
        while True:
            async with self.db.session() as session:
                result = await session.execute(delete(table).where(which))
            count = int(result.rowcount)  # type: ignore[attr-defined]
            deleted += count
            if count < DELETE_BATCH:
                return deleted
