"""The in-app inbox: a recipient's notifications on the inbox channel, read and marked as read.

Plain store functions over a session: no HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Channel, Notification


async def list_inbox(
    *, session: AsyncSession, recipient: str, limit: int = 50, offset: int = 0
) -> Sequence[Notification]:
    """A recipient's inbox notifications, newest first."""
    statement = (
        select(Notification)
        .where(Notification.recipient == recipient, Notification.channel == Channel.INBOX.value)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.exec(statement)).all()


async def unread_count(*, session: AsyncSession, recipient: str) -> int:
    statement = select(func.count()).where(
        Notification.recipient == recipient,
        Notification.channel == Channel.INBOX.value,
        col(Notification.read_at).is_(None),
    )
    return int((await session.exec(statement)).one())


async def mark_read(
    *, session: AsyncSession, recipient: str, notification_id: str, now: datetime
) -> Notification | None:
    """Mark one of the recipient's inbox notifications as read (the first reading counts); None when
    there is no such notification in their inbox, someone else's included."""
    await session.execute(
        update(Notification)
        .where(
            col(Notification.id) == notification_id,
            col(Notification.recipient) == recipient,
            col(Notification.channel) == Channel.INBOX.value,
            col(Notification.read_at).is_(None),
        )
        .values(read_at=now)
    )
    row = await session.get(Notification, notification_id)
    if row is None or row.recipient != recipient or row.channel != Channel.INBOX.value:
        return None
    await session.refresh(row)
    return row
