"""Who hears about an event, on which channel and in which language."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.models import Channel
from shared.events import DossierAccepted, DossierRefused, Event

DEFAULT_LANGUAGE = "vi"


@dataclass(frozen=True)
class Recipient:
    """One addressee: a citizen by id_number (CCCD), a member of staff by user id."""

    address: str
    channel: Channel = Channel.INBOX
    language: str = DEFAULT_LANGUAGE


def recipients_for(event: Event) -> list[Recipient]:
    """The addressees of ``event``; empty when notify has nothing to say about it."""
    if isinstance(event, DossierAccepted | DossierRefused):
        # The receipt (phiếu hẹn) and the refusal notice go to the applicant.
        return [Recipient(address=event.applicant.id_number)]
    return []
