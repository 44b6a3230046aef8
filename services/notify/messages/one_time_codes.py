"""Citizens' one-time sign-in codes: sent once by SMS or email to the contact their dossier holds,
never after they expire, and erased once they have.

The code is the one secret notify ever carries. It is rendered from fixed wording here rather than
from admin-editable templates, it goes to no webhook, it never appears in the citizen's list (no
inbox row is made for it), and it is never logged.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.notifications import Created, store_message
from services.notify.messages.rendering import RenderedMessage
from services.notify.models import Channel, Notification, NotificationStatus
from shared.db import Database
from shared.events import CitizenOneTimeCodeIssued, utc_now
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)

EVENT_TYPE = "citizen.one_time_code.issued"
# No code lives longer than this after it is issued (intake gives it 5 minutes): a message older
# than that carries nothing still of use, so it is erased.
CODE_LIFETIME = timedelta(minutes=5)
ERASE_EVERY_SECONDS = 30.0
ERASED = "[erased]"
EXPIRED = "expired before it could be sent"


def message(event: CitizenOneTimeCodeIssued) -> RenderedMessage:
    minutes = max(1, round((event.expires_at - event.occurred_at).total_seconds() / 60))
    return RenderedMessage(
        subject=f"Mã xác thực tra cứu hồ sơ {event.dossier_code}",
        body=(
            f"Mã xác thực motcua của bạn: {event.code}. Mã có hiệu lực {minutes} phút. "
            "Không chia sẻ mã này với bất kỳ ai."
        ),
    )


async def store_code(*, session: AsyncSession, event: CitizenOneTimeCodeIssued) -> Created | None:
    """Store the code's one message for the couriers, urgent (no quiet hours hold a sign-in); a code
    that expired before it reached notify is not sent at all."""
    if event.expires_at <= utc_now():
        logger.info("one-time code for %s expired before notify got it: not sent", event.dossier_code)
        return None
    return await store_message(
        session=session,
        event_id=str(event.event_id),
        event_type=event.type,
        dossier_code=event.dossier_code,
        recipient=event.destination,
        channel=Channel.SMS if event.channel == "sms" else Channel.EMAIL,
        language="vi",
        message=message(event),
        urgent=True,
    )


async def erase_expired(db: Database) -> int:
    """Blank every code message past the codes' lifetime, and give up on those not sent by then.
    A message a courier holds under its lease right now is left to the next pass."""
    now = utc_now()
    async with db.session() as session:
        result = await session.execute(
            update(Notification)
            .where(
                col(Notification.event_type) == EVENT_TYPE,
                col(Notification.created_at) < now - CODE_LIFETIME,
                col(Notification.body) != ERASED,
                or_(col(Notification.lease_until).is_(None), col(Notification.lease_until) < now),
            )
            .values(subject=ERASED, body=ERASED, next_attempt_at=None)
        )
        await session.execute(
            update(Notification)
            .where(
                and_(
                    col(Notification.event_type) == EVENT_TYPE,
                    col(Notification.body) == ERASED,
                    col(Notification.status).in_(
                        [NotificationStatus.PENDING.value, NotificationStatus.TEMPORARY_FAILURE.value]
                    ),
                )
            )
            .values(status=NotificationStatus.PERMANENT_FAILURE.value)
        )
    erased = int(result.rowcount)  # type: ignore[attr-defined]
    if erased:
        logger.info("one-time codes: %d expired message(s) erased", erased)
    return erased


def eraser(db: Database) -> BackgroundWorker:
    async def run_pass() -> float:
        await erase_expired(db)
        return ERASE_EVERY_SECONDS

    return BackgroundWorker("one-time code eraser", run_pass)
