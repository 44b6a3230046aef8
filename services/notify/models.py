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

from shared.db import UtcDateTime
from shared.events import utc_now


class NotifyModel(SQLModel, registry=registry()):
    pass


metadata = NotifyModel.metadata


class Channel(StrEnum):
    """Where a notification goes. Only the in-app inbox exists so far."""

    INBOX = "inbox"


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


class NotificationPublic(NotificationBase):
    id: str
    created_at: datetime


class Notification(NotificationBase, table=True):
    # The same event never notifies the same recipient twice on one channel.
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel", name="uq_notification_event_recipient_channel"),
    )

    id: str = Field(default_factory=new_notification_id, primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime, nullable=False)
