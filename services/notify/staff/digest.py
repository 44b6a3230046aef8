"""The daily digest: once a day, each manager or leader who opted in gets one message listing the
SLA alerts raised in their scope over the past day, instead of one message per alert.

The digest of a day is stored once per person and channel whatever the replicas or restarts: its
event id is derived from the day. A replica that was down at digest time writes the digest it
missed when it starts, and an empty day sends nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.channels.courier import Couriers
from services.notify.messages.notifications import Created, store_message
from services.notify.messages.rendering import TemplateRenderer
from services.notify.models import Alert, Channel, Person, StaffPreferences
from services.notify.settings import DigestSettings
from services.notify.staff.alerts import scope_filter
from services.notify.staff.preferences import DIGEST_ROLES
from shared.db import Database
from shared.events import utc_now
from shared.staff import Staff
from shared.worker import BackgroundWorker
from shared.working_time import VN_TZ

logger = logging.getLogger(__name__)

DIGEST_EVENT_TYPE = "digest.daily"


def latest_digest_moment(now: datetime, settings: DigestSettings) -> datetime:
    """The most recent digest time (Vietnam time) at or before ``now``, in UTC."""
    local = now.astimezone(VN_TZ)
    today = datetime.combine(local.date(), settings.at, tzinfo=VN_TZ)
    moment = today if today <= local else today - timedelta(days=1)
    return moment.astimezone(UTC)


def digest_event_id(period_end: datetime) -> str:
    return str(uuid5(NAMESPACE_URL, f"motcua:{DIGEST_EVENT_TYPE}:{period_end.isoformat()}"))


async def subscribers(*, session: AsyncSession) -> list[tuple[Person, StaffPreferences]]:
    """Active managers, leaders and admins who chose the digest."""
    statement = (
        select(Person, StaffPreferences)
        .join(StaffPreferences, col(StaffPreferences.username) == col(Person.username))
        .where(
            col(StaffPreferences.daily_digest).is_(True),
            col(Person.active).is_(True),
            col(Person.role).in_(DIGEST_ROLES),
        )
        .order_by(col(Person.username))
    )
    return [(person, wanted) for person, wanted in (await session.exec(statement)).all()]


async def alerts_in_scope(
    *, session: AsyncSession, viewer: Staff, start: datetime, end: datetime
) -> list[Alert]:
    statement = (
        select(Alert)
        .where(scope_filter(viewer), col(Alert.raised_at) >= start, col(Alert.raised_at) < end)
        .order_by(col(Alert.raised_at), col(Alert.id))
    )
    return list((await session.exec(statement)).all())


def digest_context(
    person: Person, alerts: list[Alert], *, start: datetime, end: datetime, max_listed: int
) -> dict[str, Any]:
    return {
        "full_name": person.full_name,
        "period_start": start,
        "period_end": end,
        "total": len(alerts),
        "counts": dict(Counter(alert.kind for alert in alerts)),
        "escalated": sum(1 for alert in alerts if alert.rung > 0),
        "open": sum(1 for alert in alerts if alert.status == "open"),
        "alerts": [alert.model_dump() for alert in alerts[:max_listed]],
        "unlisted": max(0, len(alerts) - max_listed),
    }


async def write_digests(
    *, session: AsyncSession, renderer: TemplateRenderer, period_end: datetime, settings: DigestSettings
) -> list[Created]:
    """Store the digest of the day ending at ``period_end`` for every subscriber with alerts in
    scope; a digest already stored is not stored again."""
    start = period_end - timedelta(days=1)
    event_id = digest_event_id(period_end)
    created: list[Created] = []
    for person, wanted in await subscribers(session=session):
        viewer = Staff(
            username=person.username,
            role=person.role,
            agency_code=person.agency_code,
            unit_code=person.unit_code,
        )
        alerts = await alerts_in_scope(session=session, viewer=viewer, start=start, end=period_end)
        if not alerts:
            continue
        context = digest_context(person, alerts, start=start, end=period_end, max_listed=settings.max_listed)
        addresses = [(person.username, Channel.INBOX)]
        if wanted.email_alerts and person.email:
            addresses.append((person.email, Channel.EMAIL))
        for address, channel in addresses:
            message = renderer.render(DIGEST_EVENT_TYPE, wanted.language, context, channel=channel.value)
            stored = await store_message(
                session=session,
                event_id=event_id,
                event_type=DIGEST_EVENT_TYPE,
                dossier_code=None,
                recipient=address,
                channel=channel,
                language=wanted.language,
                message=message,
            )
            if stored is not None:
                created.append(stored)
    return created


class DigestWriter:
    """Wakes at each digest time and writes that day's digests."""

    def __init__(
        self,
        db: Database,
        renderer: TemplateRenderer,
        couriers: Couriers,
        settings: Callable[[], DigestSettings],
    ) -> None:
        self.db = db
        self.renderer = renderer
        self.couriers = couriers
        self.settings = settings
        self.worker = BackgroundWorker("daily-digest", self.write_due)

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def write_due(self) -> float:
        """Write the latest day's digests (if not written yet); returns the seconds until the next."""
        settings = self.settings()
        period_end = latest_digest_moment(utc_now(), settings)
        async with self.db.session() as session:
            created = await write_digests(
                session=session, renderer=self.renderer, period_end=period_end, settings=settings
            )
            self.couriers.wake_after_commit(session, {item.channel for item in created})
        if created:
            logger.info("daily digest of %s: %d message(s) stored", period_end.isoformat(), len(created))
        next_moment = period_end + timedelta(days=1)
        return max(1.0, (next_moment - utc_now()).total_seconds())
