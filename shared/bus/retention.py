"""Retention: the outbox and the inbox only ever grow, so once in a while each service deletes the
rows nobody needs any more. A sent outbox row is history once NATS has the message (its duplicate
window is minutes); an inbox row guards against a redelivery or a dead letter replayed, which after
the retention period would be an operator's deliberate act.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Table, delete

from shared.db import Database
from shared.events import utc_now
from shared.settings import RetentionSettings
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)


class Pruner:
    def __init__(self, db: Database, *, outbox: Table, inbox: Table, settings: RetentionSettings) -> None:
        self.db = db
        self.outbox = outbox
        self.inbox = inbox
        self.settings = settings
        self.worker = BackgroundWorker("retention", self.prune)

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def prune(self) -> float:
        """Delete what is past retention; returns how long to wait before the next pass."""
        now = utc_now()
        outbox_before = now - timedelta(days=self.settings.outbox_days)
        inbox_before = now - timedelta(days=self.settings.inbox_days)
        async with self.db.session() as session:
            sent = await session.execute(
                delete(self.outbox).where(
                    self.outbox.c.sent_at.is_not(None), self.outbox.c.sent_at < outbox_before
                )
            )
            handled = await session.execute(
                delete(self.inbox).where(self.inbox.c.processed_at < inbox_before)
            )
        outbox_rows, inbox_rows = int(sent.rowcount), int(handled.rowcount)  # type: ignore[attr-defined]
        if outbox_rows or inbox_rows:
            logger.info("retention: %d sent outbox and %d inbox row(s) deleted", outbox_rows, inbox_rows)
        return self.settings.interval_seconds
