"""The notify service's tables and response models.

Notify keeps its own SQLModel registry so that its tables never collide with another service's
tables when several services share one process (the embedded default, the tests).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import uuid4

from sqlalchemy import Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, moment_field
from shared.events import utc_now


class NotifyModel(SQLModel, registry=registry()):
    pass


metadata = NotifyModel.metadata


class Channel(StrEnum):
    """Where a notification goes: the in-app inbox (storing it is sending it), or an outside
    provider that a courier hands it to after commit: email (SMTP), SMS (an HTTP gateway) or a
    webhook (a signed POST to a portal)."""

    INBOX = "inbox"
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class NotificationStatus(StrEnum):
    """Delivery states. An inbox notification is sent once it is stored; the others are for the
    channels that hand messages to an outside provider (email, SMS, webhook)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    TEMPORARY_FAILURE = "temporary-failure"
    PERMANENT_FAILURE = "permanent-failure"
    TECHNICAL_FAILURE = "technical-failure"


def new_notification_id() -> str:
    return uuid4().hex


class NotificationBase(NotifyModel):
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=100)
    dossier_code: str | None = Field(default=None, max_length=64, index=True)
    # A citizen is addressed by id_number (CCCD), staff by user id.
    recipient: str = Field(max_length=200, index=True)
    channel: str = Field(default=Channel.INBOX.value, max_length=32)
    language: str = Field(default="vi", max_length=16)
    subject: str = Field(max_length=500)
    body: str = Field(sa_type=Text)
    status: str = Field(default=NotificationStatus.PENDING.value, max_length=32)
    # Urgent messages ignore quiet hours (a supplement request starts the citizen's own deadline).
    urgent: bool = False


class DeliveryAttemptPublic(NotifyModel):
    attempt: int
    at: datetime
    outcome: str
    detail: str


class NotificationPublic(NotificationBase):
    id: str
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None


class InboxPage(NotifyModel):
    """A page of someone's inbox, newest first, with how many of all their inbox notifications
    are still unread."""

    items: list[NotificationPublic]
    unread: int


class NotificationWithAttempts(NotificationPublic):
    """One notification with its delivery history, oldest attempt first."""

    delivery_attempts: list[DeliveryAttemptPublic] = []


class Notification(NotificationBase, table=True):
    # The same event never notifies the same recipient twice on one channel.
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel", name="uq_notification_event_recipient_channel"),
    )

    id: str = Field(default_factory=new_notification_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime, nullable=False)
    # Delivery through an outside provider (email): how many attempts so far, when the next one is
    # due (None once nothing more will be tried), and which replica holds it while sending.
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = moment_field(optional=True, index=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = moment_field(optional=True)
    # The provider's id for the message, which its delivery reports quote.
    provider_reference: str | None = Field(default=None, max_length=200, index=True)
    # When the provider confirmed that the message reached the recipient (status ``delivered``).
    delivered_at: datetime | None = moment_field(optional=True)
    # When the recipient opened it in the in-app inbox; None while unread.
    read_at: datetime | None = moment_field(optional=True)


class DeliveryAttempt(NotifyModel, table=True):
    """One try at handing a notification to its provider, kept for the delivery history."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (UniqueConstraint("notification_id", "attempt", name="uq_delivery_attempt_number"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: str = Field(max_length=32, index=True, foreign_key="notification.id")
    attempt: int
    at: datetime = moment_field()
    outcome: str = Field(max_length=32)
    detail: str = Field(default="", sa_type=Text)


class Person(NotifyModel, table=True):
    """Notify's copy of processing's directory (who is who), fed by ``directory.person.changed``."""

    username: str = Field(primary_key=True, max_length=100)
    full_name: str = Field(max_length=300)
    role: str = Field(max_length=32)
    agency_code: str | None = Field(default=None, max_length=40, index=True)
    unit_code: str | None = Field(default=None, max_length=40, index=True)
    email: str | None = Field(default=None, max_length=300)
    active: bool = True
    # When the directory made the change this row reflects, and the event that carried it: an
    # older event never overwrites it, and of two at the same moment the greater event id wins.
    changed_at: datetime = moment_field()
    changed_by_event: str = Field(default="", max_length=36)


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertBase(NotifyModel):
    event_id: str = Field(max_length=36, unique=True)
    event_type: str = Field(max_length=100)
    # near_due, overdue or stalled; an escalation keeps the kind it escalates.
    kind: str = Field(max_length=32)
    dossier_code: str = Field(max_length=64, index=True)
    procedure_code: str = Field(max_length=64)
    procedure_name: str = Field(max_length=500)
    level: str = Field(max_length=16)
    step_index: int | None = None
    step_name: str | None = Field(default=None, max_length=300)
    agency_code: str = Field(max_length=40, index=True)
    unit_code: str = Field(max_length=40, index=True)
    owner: str | None = Field(default=None, max_length=100)
    rung: int = 0
    status: str = Field(default=AlertStatus.OPEN.value, max_length=16, index=True)
    acknowledged_by: str | None = Field(default=None, max_length=100)


class AlertPublic(AlertBase):
    id: str
    due_at: datetime
    raised_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


class Alert(AlertBase, table=True):
    id: str = Field(default_factory=new_notification_id, primary_key=True, max_length=32)
    due_at: datetime = moment_field()
    raised_at: datetime = moment_field(index=True)
    acknowledged_at: datetime | None = moment_field(optional=True)
    # Set once the step or the dossier the alert is about is done: nothing is left to act on.
    resolved_at: datetime | None = moment_field(optional=True)
    # The revision of processing's dossier the alert was raised at, to tell whether a step's end
    # (``DossierClosure``) came after it, whatever order the two arrive in.
    revision: int = 0


class DossierClosure(NotifyModel, table=True):
    """A step of a dossier finished (``step_index``), or the whole dossier did (``step_index`` None),
    at ``revision`` of processing's dossier: alerts about it raised up to that revision are resolved,
    those that arrive later too."""

    __tablename__ = "dossier_closure"

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(max_length=64, index=True)
    step_index: int | None = None
    revision: int
    closed_at: datetime = moment_field()


class StaffPreferencesBase(NotifyModel):
    # The language of the member of staff's notifications: "vi" or "en".
    language: str = Field(default="vi", max_length=16)
    # Alerts by email besides the inbox, for staff with an email address in the directory.
    email_alerts: bool = True
    # One message a day listing the alerts in the person's scope, instead of one per alert
    # (managers and leaders).
    daily_digest: bool = False


class StaffPreferences(StaffPreferencesBase, table=True):
    """How a member of staff wants to hear from notify; a person without a row has the defaults."""

    __tablename__ = "staff_preferences"

    username: str = Field(primary_key=True, max_length=100)
    updated_at: datetime = moment_field()


class StaffPreferencesPublic(StaffPreferencesBase):
    username: str


class TemplateSourcesBase(NotifyModel):
    # Jinja2 sources, rendered with the event's fields as the shipped files are.
    subject: str = Field(sa_type=Text, min_length=1, max_length=2_000)
    body: str = Field(sa_type=Text, min_length=1, max_length=50_000)


class TemplateOverride(TemplateSourcesBase, table=True):
    """An admin's replacement for the shipped template of an event type, language and channel
    (inbox, email or SMS; a webhook carries the event itself)."""

    __tablename__ = "template_override"

    language: str = Field(primary_key=True, max_length=16)
    event_type: str = Field(primary_key=True, max_length=100)
    channel: str = Field(primary_key=True, max_length=32)
    updated_by: str = Field(max_length=100)
    updated_at: datetime = moment_field()
