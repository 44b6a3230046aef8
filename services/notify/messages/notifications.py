"""Turning events into stored notifications, and reading them back.

Plain service functions over a session: no HTTP and no bus here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, String, and_, bindparam, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.recipients import Recipient, recipients_for
from services.notify.messages.rendering import MessageSources, RenderedMessage, TemplateRenderer
from services.notify.messages.templates_admin import overrides_for
from services.notify.models import (
    Channel,
    DeliveryAttempt,
    Notification,
    NotificationPublic,
    NotificationStatus,
    new_notification_id,
)
from services.notify.settings import WebhookEndpoint
from shared.db import table_of
from shared.driver_statements import DriverInsert
from shared.events import Event, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reader:
    """Whoever reads notifications: exactly one of a member of staff (by username) or a citizen (by
    the CCCD their session is bound to)."""

    username: str | None = None
    id_number: str | None = None
    # A member of staff's email address in the directory copy, where their alert emails went.
    email: str | None = None


class Created(NamedTuple):
    notification_id: str
    channel: Channel
    recipient: str


def message_context(event: Event) -> dict[str, Any]:
    """What a template sees: the event's fields as they are (datetimes stay datetimes, the
    applicant is a mapping with ``full_name``, ``id_number``…)."""
    return event.model_dump()


def status_once_stored(channel: Channel) -> NotificationStatus:
    # The inbox is the notification table itself: storing it is sending it.
    return NotificationStatus.SENT if channel is Channel.INBOX else NotificationStatus.PENDING


@dataclass(frozen=True)
class Outgoing:
    """One message of one event to store for one recipient on one channel."""

    event_id: str
    event_type: str
    dossier_code: str | None
    recipient: str
    channel: Channel
    language: str
    message: RenderedMessage
    urgent: bool = False


@dataclass
class Notifying:
    """The notifications of one transaction's events: each event's messages are worded as it is
    handled, and all of them stored together at the end (``store``), with one statement; an event
    type's overrides are read once.

    A recipient already notified of an event on the same channel is skipped, so a replayed event
    changes nothing."""

    renderer: TemplateRenderer
    webhooks: Sequence[WebhookEndpoint] = ()
    outgoing: list[Outgoing] = field(default_factory=list)
    _overrides: dict[str, Mapping[tuple[str, str], MessageSources]] = field(default_factory=dict)

    async def add(self, session: AsyncSession, event: Event) -> None:
        """Word a message for each recipient of ``event``, to be stored with the others."""
        recipients = await recipients_for(session=session, event=event, webhooks=self.webhooks)
        if not recipients:
            return
        people = any(recipient.channel is not Channel.WEBHOOK for recipient in recipients)
        if people and event.type not in self._overrides:
            self._overrides[event.type] = await overrides_for(session=session, event_type=event.type)
        overrides = self._overrides.get(event.type, {})
        context = message_context(event)
        self.outgoing.extend(
            Outgoing(
                event_id=str(event.event_id),
                event_type=event.type,
                dossier_code=event.dossier_code,
                recipient=recipient.address,
                channel=recipient.channel,
                language=recipient.language,
                message=_worded(event, recipient, context, self.renderer, overrides),
                urgent=recipient.urgent,
            )
            for recipient in recipients
        )

    async def store(self, session: AsyncSession) -> list[NotificationPublic]:
        """Store what ``add`` worded; the rows stored, in the order worded."""
        outgoing, self.outgoing = self.outgoing, []
        return await store_messages(session=session, outgoing=outgoing)


def _worded(
    event: Event,
    recipient: Recipient,
    context: dict[str, Any],
    renderer: TemplateRenderer,
    overrides: Mapping[tuple[str, str], MessageSources],
) -> RenderedMessage:
    """The message ``recipient`` gets: an admin's override of the wording where there is one."""
    if recipient.channel is Channel.WEBHOOK:
        # A portal gets the event itself, as JSON, not a message written for people.
        return RenderedMessage(subject=event.type, body=event.model_dump_json())
    channel = recipient.channel.value
    override = overrides.get((recipient.language, channel))
    try:
        return renderer.render(event.type, recipient.language, context, channel=channel, override=override)
    except Exception:
        if override is None:
            raise
        # An override that passed the checks can still fail on a value (a filter given the
        # wrong type): the citizen still hears, in the shipped wording, and the log says why.
        logger.exception(
            "override of %s/%s/%s failed to render; using the shipped template",
            recipient.language,
            event.type,
            channel,
        )
        return renderer.render(event.type, recipient.language, context, channel=channel)


_STORE = DriverInsert(
    table_of(Notification),
    (
        "id",
        "event_id",
        "event_type",
        "dossier_code",
        "recipient",
        "channel",
        "language",
        "subject",
        "body",
        "status",
        "urgent",
        "created_at",
        "attempts",
        "next_attempt_at",
    ),
    skip_duplicates=("event_id", "recipient", "channel"),
    returning=[table_of(Notification).c.id],
)


async def store_messages(*, session: AsyncSession, outgoing: Sequence[Outgoing]) -> list[NotificationPublic]:
    """Insert the notifications in one statement; returns those stored, in the order given, without
    any a recipient already had for its event on its channel."""
    now = utc_now()
    rows: dict[tuple[str, str, Channel], dict[str, Any]] = {}
    for item in outgoing:
        rows.setdefault(
            (item.event_id, item.recipient, item.channel),
            {
                "id": new_notification_id(),
                "event_id": item.event_id,
                "event_type": item.event_type,
                "dossier_code": item.dossier_code,
                "recipient": item.recipient,
                "channel": item.channel.value,
                "language": item.language,
                "subject": item.message.subject,
                "body": item.message.body,
                "status": status_once_stored(item.channel).value,
                "urgent": item.urgent,
                "created_at": now,
                "attempts": 0,
                # An outside channel is due for its first attempt as soon as the transaction commits.
                "next_attempt_at": None if item.channel is Channel.INBOX else now,
            },
        )
    if not rows:
        return []
    stored = {id_ for (id_,) in await _STORE.rows(session, list(rows.values()))}
    return [NotificationPublic.model_validate(row) for row in rows.values() if row["id"] in stored]


async def store_message(
    *,
    session: AsyncSession,
    event_id: str,
    event_type: str,
    dossier_code: str | None,
    recipient: str,
    channel: Channel,
    language: str,
    message: RenderedMessage,
    urgent: bool = False,
) -> Created | None:
    """Insert one notification; None when the recipient already has this event on this channel."""
    item = Outgoing(event_id, event_type, dossier_code, recipient, channel, language, message, urgent)
    stored = await store_messages(session=session, outgoing=[item])
    return Created(stored[0].id, channel, recipient) if stored else None


def _readable_by(*, staff: bool) -> ColumnElement[bool]:
    """The rows a reader owns: their inbox rows (a citizen's addressed by CCCD, staff's by username,
    the parameter ``inbox_key``) and the SMS and email of the same events. A citizen notice goes to
    its applicant alone, so all of its SMS and email are theirs; a staff alert may go to several
    people, so only the email to the reader's own address (the parameter ``email``) is. Webhook
    deliveries, which carry whole events, belong to nobody who reads over HTTP."""
    inbox_key = bindparam("inbox_key", type_=String)
    own_events = select(Notification.event_id).where(
        col(Notification.recipient) == inbox_key, col(Notification.channel) == Channel.INBOX
    )
    if staff:
        outside = and_(
            col(Notification.channel) == Channel.EMAIL,
            col(Notification.recipient) == bindparam("email", type_=String),
        )
    else:
        outside = col(Notification.channel).in_([Channel.SMS, Channel.EMAIL])
    return and_(
        col(Notification.event_id).in_(own_events),
        or_(
            and_(col(Notification.channel) == Channel.INBOX, col(Notification.recipient) == inbox_key),
            outside,
        ),
    )


# Built once, staff's and citizens': readers poll their notifications.
_LISTS = {
    staff: select(Notification)
    .where(_readable_by(staff=staff))
    .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
    for staff in (True, False)
}
_ONES = {
    staff: select(Notification).where(
        col(Notification.id) == bindparam("notification_id", type_=String), _readable_by(staff=staff)
    )
    for staff in (True, False)
}


def _reading(reader: Reader) -> dict[str, Any]:
    """The parameters of ``_readable_by`` for ``reader``."""
    if reader.username is not None:
        return {"inbox_key": reader.username, "email": reader.email}
    return {"inbox_key": reader.id_number}


async def list_for_reader(
    *, session: AsyncSession, reader: Reader, limit: int = 50, offset: int = 0
) -> Sequence[Notification]:
    """The reader's own notifications, newest first."""
    statement = _LISTS[reader.username is not None]
    parameters = {**_reading(reader), "limit": limit, "offset": offset}
    return (await session.exec(statement, params=parameters)).all()


async def get_for_reader(
    *, session: AsyncSession, reader: Reader, notification_id: str
) -> Notification | None:
    """One of the reader's own notifications; None for anyone else's."""
    statement = _ONES[reader.username is not None]
    parameters = {**_reading(reader), "notification_id": notification_id}
    return (await session.exec(statement, params=parameters)).first()


async def get(*, session: AsyncSession, notification_id: str) -> Notification | None:
    return await session.get(Notification, notification_id)


async def delivery_history(*, session: AsyncSession, notification_id: str) -> Sequence[DeliveryAttempt]:
    """Every attempt at delivering the notification, oldest first."""
    statement = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id == notification_id)
        .order_by(col(DeliveryAttempt.attempt))
    )
    return (await session.exec(statement)).all()
