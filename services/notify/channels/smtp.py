"""The email channel's adapter: hands one message to an SMTP server and says how it went."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from services.notify.channels.delivery import AttemptResult, Claimed, outcome_of_smtp_reply
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import SmtpSettings

# The waits of one conversation that aiosmtplib bounds by ``timeout`` each: connecting, the
# greeting, EHLO, STARTTLS and its handshake, EHLO again, AUTH (up to three exchanges), MAIL, RCPT,
# DATA, the end of the data and QUIT. A server that is slow at every step takes this many timeouts.
SMTP_WAITS = 14


def email_message(claimed: Claimed, settings: SmtpSettings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = claimed.recipient
    message["Subject"] = claimed.subject
    domain = settings.from_address.rpartition("@")[2] or "motcua.invalid"
    # The same id on every attempt, from whichever replica, so that a receiver can tell a retry
    # (after a crash between sending and recording, say) from a new message.
    message["Message-ID"] = f"<{claimed.notification_id}@{domain}>"
    message.set_content(claimed.body, charset="utf-8")
    return message


async def send_email(claimed: Claimed, settings: SmtpSettings) -> AttemptResult:
    """One SMTP conversation; never raises for what the server or the network did."""
    try:
        _, reply = await aiosmtplib.send(
            email_message(claimed, settings),
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.use_tls,
            start_tls=settings.starts_tls,
            timeout=settings.timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        return AttemptResult(outcome_of_smtp_reply(first.code), f"{first.code} {first.message}")
    except aiosmtplib.SMTPResponseException as exc:
        return AttemptResult(outcome_of_smtp_reply(exc.code), f"{exc.code} {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Refused connections, timeouts, a server that hung up: our side of the wire, retried.
        return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, f"{exc.__class__.__name__}: {exc}")
    return AttemptResult(NotificationStatus.SENT, reply)


class EmailSender:
    """The email channel for the couriers; ``settings`` gives the current SMTP settings."""

    channel = Channel.EMAIL

    def __init__(self, settings: Callable[[], SmtpSettings]) -> None:
        self.settings = settings

    def ready(self) -> bool:
        return self.settings().enabled

    def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
        return None

    def longest_send(self) -> float:
        return self.settings().timeout_seconds * SMTP_WAITS

    async def send(self, claimed: Claimed) -> AttemptResult:
        return await send_email(claimed, self.settings())
