"""Who hears about an event, on which channel and in which language."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.models import Channel
from shared.events import CitizenNotice, Event, SlaAlert

# The applicant has no language of their own yet: every citizen hears in Vietnamese.
DEFAULT_LANGUAGE = "vi"


@dataclass(frozen=True)
class Recipient:
    """One addressee on one channel: in the inbox a citizen by id_number (CCCD) and a member of
    staff by user id; by email, the email address."""

    address: str
    channel: Channel = Channel.INBOX
    language: str = DEFAULT_LANGUAGE


def recipients_for(event: Event) -> list[Recipient]:
    """The addressees of ``event``; empty when notify has nothing to say about it."""
    if isinstance(event, CitizenNotice):
        # Everything the applicant sees of their dossier: the receipt (phiếu hẹn), a refusal, a
        # supplement request, the result, the apology letter, a withdrawal.
        found = [Recipient(address=event.applicant.id_number)]
        if event.applicant.email:
            found.append(Recipient(address=event.applicant.email.strip(), channel=Channel.EMAIL))
        return found
    if isinstance(event, SlaAlert):
        usernames = dict.fromkeys(recipient.username for recipient in event.recipients)
        return [Recipient(address=username) for username in usernames]
    return []
