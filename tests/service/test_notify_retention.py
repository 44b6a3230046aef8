"""Notify deletes the notifications it is done with once they are older than the retention
setting, with their delivery history, in its retention pass; never one still waiting to go out.

Service tier: notify's own retention pass on a real database, without NATS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from services.notify.app import create_app
from services.notify.models import Channel, DeliveryAttempt, Notification, NotificationStatus
from shared.events import utc_now
from shared.migrations import upgrade
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings, RetentionSettings
from tests.conftest import DatabaseSettingsFactory

KEEP_DAYS = 30


@pytest.fixture
async def notify(database_settings: DatabaseSettingsFactory, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    settings = RuntimeSettings(
        common=CommonSettings(data_dir=tmp_path / "data"),
        retention=RetentionSettings(notification_days=KEEP_DAYS),
        database=database_settings("notify"),
    )
    runtime: ServiceRuntime = create_app(settings).state.runtime
    await upgrade(runtime.db, runtime.migrations)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()
        runtime.tracer_provider.shutdown()


def _notification(
    name: str, *, age_days: float, status: NotificationStatus, retry: bool = False
) -> Notification:
    now = utc_now()
    return Notification(
        id=name,
        event_id=f"event-{name}",
        event_type="dossier.accepted",
        dossier_code="000.00.06.H56-231027-0001",
        recipient="049090001234",
        channel=Channel.SMS.value,
        subject="Hồ sơ được tiếp nhận",
        body="…",
        status=status.value,
        created_at=now - timedelta(days=age_days),
        attempts=1,
        next_attempt_at=now + timedelta(minutes=5) if retry or status is NotificationStatus.PENDING else None,
    )


async def test_notifications_done_with_and_past_retention_are_deleted_with_their_attempts(
    notify: ServiceRuntime,
) -> None:
    old = KEEP_DAYS + 1
    rows = [
        _notification("old-delivered", age_days=old, status=NotificationStatus.DELIVERED),
        _notification("old-sent", age_days=old, status=NotificationStatus.SENT),
        _notification("old-failed", age_days=old, status=NotificationStatus.PERMANENT_FAILURE),
        _notification("old-pending", age_days=old, status=NotificationStatus.PENDING),
        _notification("old-retrying", age_days=old, status=NotificationStatus.TEMPORARY_FAILURE, retry=True),
        _notification("recent-delivered", age_days=KEEP_DAYS - 1, status=NotificationStatus.DELIVERED),
    ]
    async with notify.db.session() as session:
        session.add_all(rows)
        await session.flush()
        session.add_all(
            DeliveryAttempt(notification_id=row.id, attempt=1, at=row.created_at, outcome=row.status)
            for row in rows
        )

    await notify.pruner.prune()

    async with notify.db.session() as session:
        kept = set((await session.exec(select(col(Notification.id)))).all())
        attempts = set((await session.exec(select(col(DeliveryAttempt.notification_id)))).all())
    assert kept == {"old-pending", "old-retrying", "recent-delivered"}
    assert attempts == kept
