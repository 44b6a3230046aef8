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

from sqlalchemy import Table, delete

from shared.db import Database
from shared.events import utc_now
from shared.settings import RetentionSettings
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)

# Deletes what is past its keep of one kind and logs how much (counts only); what it returns is
# not read. It may run on every replica at once, so it must tolerate finding its work done.
RetentionSweep = Callable[[], Awaitable[object]]


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
        for name, sweep in self.sweeps:
            # One sweep failing (a file system away) does not stop the others; the next pass retries.
            try:
                await sweep()
            except Exception:
                logger.exception("retention: the %s sweep failed", name)
        return self.settings.interval_seconds
