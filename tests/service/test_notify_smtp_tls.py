"""SMTP requires STARTTLS: a server that does not offer it gets no message, and the attempt says why.

Service tier: a real SMTP server (aiosmtpd, no TLS) on a local port; no NATS needed.
"""

from __future__ import annotations

from services.notify.channels.delivery import Claimed
from services.notify.channels.smtp import send_email
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import SmtpSettings
from tests.system import APPLICANT, Mailbox, smtp_serving


def claimed() -> Claimed:
    return Claimed(
        notification_id="n-1",
        attempt=1,
        channel=Channel.EMAIL,
        event_id="e-1",
        event_type="dossier.accepted",
        dossier_code="000.00.06.H56-231027-0001",
        recipient=APPLICANT["email"],
        subject="Phiếu hẹn",
        body=f"Hồ sơ của {APPLICANT['full_name']}",
    )


async def test_a_server_without_starttls_gets_nothing_in_clear_and_the_attempt_says_why() -> None:
    mailbox = Mailbox()
    with smtp_serving(mailbox) as port:
        result = await send_email(claimed(), SmtpSettings(enabled=True, host="127.0.0.1", port=port))
    assert result.outcome is NotificationStatus.TECHNICAL_FAILURE
    assert "STARTTLS" in result.detail
    assert mailbox.messages == [] and mailbox.recipient_attempts == 0


async def test_with_plaintext_allowed_the_same_server_takes_the_message() -> None:
    mailbox = Mailbox()
    with smtp_serving(mailbox) as port:
        settings = SmtpSettings(enabled=True, host="127.0.0.1", port=port, allow_plaintext=True)
        result = await send_email(claimed(), settings)
    assert result.outcome is NotificationStatus.SENT, result
    assert len(mailbox.messages) == 1
