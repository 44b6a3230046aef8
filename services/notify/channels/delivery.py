"""Delivering notifications through an outside provider: the rules for outcomes and retries, and
the store functions that claim a due notification and record each attempt.

A replica claims a notification with a lease (a compare-and-set on the row) before sending it, so
two replicas never send the same one; the send itself happens outside any transaction. Why a lease
is long enough is ``lease_seconds``'s rule, and the courier's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Channel, DeliveryAttempt, Notification, NotificationStatus
from services.notify.settings import DeliverySettings
from shared.errors import Conflict

# Outcomes worth another attempt: the provider said "later" (4xx) or we could not reach it.
RETRYABLE = frozenset({NotificationStatus.TEMPORARY_FAILURE, NotificationStatus.TECHNICAL_FAILURE})


class ReportTooEarly(Conflict):
    """A delivery report overtook the reply of the request that sent the message."""


@dataclass(frozen=True)
class AttemptResult:
    outcome: NotificationStatus
    detail: str
    # The provider's id for the message, quoted by its delivery reports.
    reference: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A notification this replica holds the lease on, with what it needs to send it."""

    notification_id: str
    attempt: int
    channel: Channel
    event_id: str
    event_type: str
    dossier_code: str | None
    recipient: str
    subject: str
    body: str
    urgent: bool = False


def outcome_of_smtp_reply(code: int) -> NotificationStatus:
    """2xx: handed over; 4xx: try again later; 5xx (and anything odd): never going to work."""
    if 200 <= code < 300:
        return NotificationStatus.SENT
    if 400 <= code < 500:
        return NotificationStatus.TEMPORARY_FAILURE
    return NotificationStatus.PERMANENT_FAILURE


def next_attempt_after(
    result: NotificationStatus, *, attempt: int, now: datetime, settings: DeliverySettings
) -> datetime | None:
    """When to try again after attempt number ``attempt``; None when this was the last one."""
    if result not in RETRYABLE or attempt >= settings.max_attempts:
        return None
    delays = settings.backoff_seconds
    return now + timedelta(seconds=delays[min(attempt, len(delays)) - 1])


def lease_seconds(*, longest_send: float, settings: DeliverySettings) -> float:
    """How long a claim holds a message: the longest one attempt on its channel may last (the
    courier cuts an attempt off there), plus the margin for the moments between taking the lease
    and starting to send and for replicas' clocks that disagree a little. While an attempt can
    still be running, its lease has not lapsed, so no other replica can take the message."""
    return longest_send + settings.lease_margin_seconds


async def next_due_at(*, session: AsyncSession, channel: Channel, now: datetime) -> datetime | None:
    """When the next attempt no replica holds falls due (rows held elsewhere are found by polling)."""
    statement = (
        select(Notification.next_attempt_at)
        .where(
            Notification.channel == channel.value,
            col(Notification.next_attempt_at).is_not(None),
            or_(col(Notification.lease_until).is_(None), col(Notification.lease_until) < now),
        )
        .order_by(col(Notification.next_attempt_at))
        .limit(1)
    )
    return (await session.exec(statement)).first()


def _free_and_due(channel: Channel, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Due for an attempt on ``channel``, and no replica holds it."""
    return (
        col(Notification.channel) == channel.value,
        col(Notification.next_attempt_at).is_not(None),
        col(Notification.next_attempt_at) <= now,
        or_(col(Notification.lease_until).is_(None), col(Notification.lease_until) < now),
    )


async def claim_due(
    *, session: AsyncSession, channel: Channel, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[Claimed]:
    """Take the lease on up to ``limit`` notifications due on ``channel``, oldest due first, in one
    statement. The conditions are checked again on each row as it is updated, so a replica that
    chose the same rows a moment later gets none of the ones taken meanwhile.

    On PostgreSQL the choice skips rows another replica's claim holds locked: without that, the
    later claim waits for the earlier one, finds every row it chose taken and comes back empty while
    more are due, and its courier stops until the next poll. The choice is a materialized CTE
    because a subquery with SKIP LOCKED may be scanned again for each row of the update, each scan
    skipping what the last one locked, and so take more than ``limit`` rows, more than the lease was
    measured for. SQLite writes one at a time, so it meets no locks and renders neither clause.
    """
    chosen = (
        select(Notification.id)
        .where(*_free_and_due(channel, now))
        .order_by(col(Notification.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    taken = await session.execute(
        update(Notification)
        .where(col(Notification.id).in_(select(chosen.c.id)), *_free_and_due(channel, now))
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
        .returning(
            col(Notification.id),
            col(Notification.attempts),
            col(Notification.event_id),
            col(Notification.event_type),
            col(Notification.dossier_code),
            col(Notification.recipient),
            col(Notification.subject),
            col(Notification.body),
            col(Notification.urgent),
        )
    )
    return [
        Claimed(
            notification_id=row.id,
            attempt=row.attempts + 1,
            channel=channel,
            event_id=row.event_id,
            event_type=row.event_type,
            dossier_code=row.dossier_code,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            urgent=row.urgent,
        )
        for row in taken
    ]


async def record_attempt(
    *,
    session: AsyncSession,
    claimed: Claimed,
    owner: str,
    result: AttemptResult,
    now: datetime,
    settings: DeliverySettings,
) -> bool:
    """Store the attempt and the notification's new status, and release the lease; False (and
    nothing stored) when the lease was lost meanwhile."""
    next_at = next_attempt_after(result.outcome, attempt=claimed.attempt, now=now, settings=settings)
    values: dict[str, object] = {
        "status": result.outcome.value,
        "attempts": claimed.attempt,
        "next_attempt_at": next_at,
        "lease_owner": None,
        "lease_until": None,
    }
    if result.reference is not None:
        values["provider_reference"] = result.reference[:200]
    if result.outcome is NotificationStatus.DELIVERED:
        values["delivered_at"] = now
    released = await session.execute(
        update(Notification)
        .where(col(Notification.id) == claimed.notification_id, col(Notification.lease_owner) == owner)
        .values(**values)
    )
    if not released.rowcount:  # type: ignore[attr-defined]
        return False
    session.add(
        DeliveryAttempt(
            notification_id=claimed.notification_id,
            attempt=claimed.attempt,
            at=now,
            outcome=result.outcome.value,
            detail=result.detail[:2000],
        )
    )
    return True


async def postpone(*, session: AsyncSession, claimed: Claimed, owner: str, until: datetime) -> bool:
    """Give the lease back without an attempt, due again at ``until`` (quiet hours); False when
    the lease was lost meanwhile."""
    released = await session.execute(
        update(Notification)
        .where(col(Notification.id) == claimed.notification_id, col(Notification.lease_owner) == owner)
        .values(next_attempt_at=until, lease_owner=None, lease_until=None)
    )
    return bool(released.rowcount)  # type: ignore[attr-defined]


async def record_report(
    *, session: AsyncSession, channel: Channel, reference: str, delivered: bool, now: datetime
) -> Notification | None:
    """Apply a provider's delivery report to the message it sent as ``reference`` (the provider's
    id for it, or ours, which the request carried): ``delivered``, or ``permanent-failure`` when the
    provider gave up on it. Only a sent message changes, so a repeated or late report changes
    nothing. None when no message has that reference; ``ReportTooEarly`` when the attempt that
    sent it is not recorded yet."""
    statement = select(Notification).where(
        Notification.channel == channel.value,
        or_(col(Notification.provider_reference) == reference, col(Notification.id) == reference),
    )
    notification = (await session.exec(statement)).first()
    if notification is None:
        return None
    if notification.status == NotificationStatus.PENDING.value:
        raise ReportTooEarly(f"message {reference!r} is still being sent; report again shortly")
    outcome = NotificationStatus.DELIVERED if delivered else NotificationStatus.PERMANENT_FAILURE
    await session.execute(
        update(Notification)
        .where(
            col(Notification.id) == notification.id,
            col(Notification.status) == NotificationStatus.SENT.value,
        )
        .values(status=outcome.value, delivered_at=now if delivered else None)
    )
    await session.refresh(notification)
    return notification
