"""Notifications are not kept for ever: once one is delivered or given up on and older than
``MOTCUA_RETENTION_NOTIFICATION_DAYS``, it and its delivery history are deleted in the hourly
retention pass. A notification still waiting to go out (pending, or with another attempt due) is
never deleted, however old."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from services.notify.models import DeliveryAttempt, Notification, NotificationStatus
from shared.db import Database
from shared.events import utc_now
from shared.settings import RetentionSettings

logger = logging.getLogger(__name__)

# Rows deleted per transaction, so that the first pass over years of history holds no lock for long.
BATCH = 1000


async def prune_notifications(
    *, db: Database, settings: RetentionSettings, now: datetime | None = None
) -> int:
    """Delete the notifications done with before the cutoff, oldest first; returns how many."""
    cutoff = (now or utc_now()) - timedelta(days=settings.notification_days)
    done_with = select(col(Notification.id)).where(
        col(Notification.created_at) < cutoff,
        col(Notification.status) != NotificationStatus.PENDING.value,
        # None once nothing more will be tried (and always for the inbox).
        col(Notification.next_attempt_at).is_(None),
    )
    total = 0
    while True:
        async with db.session() as session:
            ids = list(
                (await session.exec(done_with.order_by(col(Notification.created_at)).limit(BATCH))).all()
            )
            if not ids:
                break
            await session.execute(
                delete(DeliveryAttempt).where(col(DeliveryAttempt.notification_id).in_(ids))
            )
            await session.execute(delete(Notification).where(col(Notification.id).in_(ids)))
        total += len(ids)
        if len(ids) < BATCH:
            break
    if total:
        logger.info("retention: %d notification(s) older than %s deleted", total, cutoff.date().isoformat())
    return total
