"""Inbox: a row per (consumer, event) written in the same transaction as the event's effect,
so that a redelivered event changes nothing. JetStream's duplicate window covers publishes only."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Column, MetaData, String, Table
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import UtcDateTime
from shared.driver_statements import DriverInsert
from shared.events import utc_now


def inbox_table(metadata: MetaData) -> Table:
    if "inbox" in metadata.tables:  # a second app of the same service in one process
        return metadata.tables["inbox"]
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )


class Inbox:
    def __init__(self, table: Table) -> None:
        self.table = table
        self._record = DriverInsert(
            table,
            ("consumer", "event_id", "processed_at"),
            skip_duplicates=True,
            returning=[table.c.consumer, table.c.event_id],
        )

    async def first_delivery(self, session: AsyncSession, *, consumer: str, event_id: UUID) -> bool:
        """Record the event for this consumer; False when it was already recorded.

        On PostgreSQL a concurrent twin blocks on the key until the first commits, then sees the row.
        """
        return (consumer, event_id) in await self.first_deliveries(session, [(consumer, event_id)])

    async def first_deliveries(
        self, session: AsyncSession, deliveries: Sequence[tuple[str, UUID]]
    ) -> set[tuple[str, UUID]]:
        """Record a batch's (consumer, event) pairs in one statement, the consumers of a group's
        handlers side by side; the pairs not recorded before. A pair twice counts once."""
        now = utc_now()
        unique = dict.fromkeys((consumer, str(event_id)) for consumer, event_id in deliveries)
        rows = [
            {"consumer": consumer, "event_id": event_id, "processed_at": now} for consumer, event_id in unique
        ]
        return {(consumer, UUID(event_id)) for consumer, event_id in await self._record.rows(session, rows)}
