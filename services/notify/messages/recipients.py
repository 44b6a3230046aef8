"""Who hears about an event, on which channel and in which language.

- The applicant hears of every citizen-visible change: in the inbox (by CCCD), by email and by SMS
  when they gave an address and a phone number.
- Officers hear that a step was assigned to them, or to their unit when nobody holds it, unless
  they took it themselves.
- SLA alerts go to the people processing named, by rung: in the inbox, and by email unless they
  turned alert email off. Someone on the daily digest hears of alerts only there.
- Every webhook endpoint whose patterns match the event type gets the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Channel, Person, StaffPreferences, StaffPreferencesBase
from services.notify.settings import WebhookEndpoint
from shared.events import CitizenNotice, DossierStepAssigned, DossierSupplementRequested, Event, SlaAlert

# The applicant has no language of their own yet: every citizen hears in Vietnamese.
DEFAULT_LANGUAGE = "vi"
# A supplement request starts the citizen's own deadline: its SMS goes out even in quiet hours.
URGENT_NOTICES: tuple[type[CitizenNotice], ...] = (DossierSupplementRequested,)


@dataclass(frozen=True)
class Recipient:
    """One addressee on one channel: in the inbox a citizen by id_number (CCCD) and a member of
    staff by user id; by email the address, by SMS the phone number, by webhook the endpoint's
    name."""

    address: str
    channel: Channel = Channel.INBOX
    language: str = DEFAULT_LANGUAGE
    urgent: bool = False


async def recipients_for(
    *, session: AsyncSession, event: Event, webhooks: Sequence[WebhookEndpoint] = ()
) -> list[Recipient]:
    """The addressees of ``event``; empty when notify has nothing to say about it."""
    found: list[Recipient] = []
    if isinstance(event, CitizenNotice):
        found.extend(citizen_recipients(event))
    elif isinstance(event, SlaAlert):
        usernames = list(dict.fromkeys(recipient.username for recipient in event.recipients))
        found.extend(await staff_recipients(session=session, usernames=usernames, alert=True))
    elif isinstance(event, DossierStepAssigned):
        # Whoever assigned the step knows of it already.
        if event.assignee:
            usernames = [event.assignee] if event.assignee != event.assigned_by else []
            known = await staff(session, col(Person.username).in_(usernames)) if usernames else {}
        else:
            officers = (
                col(Person.unit_code) == event.unit_code,
                col(Person.role) == "officer",
                col(Person.active).is_(True),
            )
            known = await staff(session, *officers)
            usernames = [username for username in sorted(known) if username != event.assigned_by]
        found.extend(addressed(usernames, known, alert=False))
    found.extend(
        Recipient(address=endpoint.name, channel=Channel.WEBHOOK)
        for endpoint in webhooks
        if wants(endpoint, event.type)
    )
    return found


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return any(fnmatchcase(event_type, pattern) for pattern in endpoint.events)


def citizen_recipients(event: CitizenNotice) -> list[Recipient]:
    urgent = isinstance(event, URGENT_NOTICES)
    applicant = event.applicant
    found = [Recipient(address=applicant.id_number, urgent=urgent)]
    if applicant.email and applicant.email.strip():
        found.append(Recipient(address=applicant.email.strip(), channel=Channel.EMAIL, urgent=urgent))
    if applicant.phone and applicant.phone.strip():
        found.append(Recipient(address=applicant.phone.strip(), channel=Channel.SMS, urgent=urgent))
    return found


async def preferences_of(
    *, session: AsyncSession, usernames: Iterable[str]
) -> dict[str, StaffPreferencesBase]:
    """Each person's preferences, the defaults for someone who never set any."""
    wanted = list(usernames)
    if not wanted:
        return {}
    statement = select(StaffPreferences).where(col(StaffPreferences.username).in_(wanted))
    stored = {row.username: row for row in (await session.exec(statement)).all()}
    return {username: stored.get(username) or StaffPreferencesBase() for username in wanted}


async def staff(
    session: AsyncSession, *conditions: ColumnElement[bool]
) -> dict[str, tuple[Person, StaffPreferencesBase]]:
    """The people of the directory copy that ``conditions`` select, each with their preferences
    (the defaults for someone who never set any), read together."""
    statement = (
        select(Person, StaffPreferences)
        .outerjoin(StaffPreferences, col(StaffPreferences.username) == col(Person.username))
        .where(*conditions)
    )
    return {
        person.username: (person, preferences or StaffPreferencesBase())
        for person, preferences in (await session.exec(statement)).all()
    }


async def staff_recipients(
    *, session: AsyncSession, usernames: Sequence[str], alert: bool
) -> list[Recipient]:
    """See ``addressed``: the people named, read from the directory copy."""
    if not usernames:
        return []
    return addressed(usernames, await staff(session, col(Person.username).in_(usernames)), alert=alert)


def addressed(
    usernames: Sequence[str], known: Mapping[str, tuple[Person, StaffPreferencesBase]], *, alert: bool
) -> list[Recipient]:
    """The inbox of each person, and for an alert their email too. People the directory copy knows
    as inactive hear nothing; someone it does not know yet still gets the inbox message, with the
    default preferences (only people it knows can set any)."""
    found: list[Recipient] = []
    for username in usernames:
        person, wanted = known.get(username, (None, StaffPreferencesBase()))
        if person is not None and not person.active:
            continue
        if alert and wanted.daily_digest:
            continue
        found.append(Recipient(address=username, language=wanted.language))
        if alert and wanted.email_alerts and person is not None and person.email:
            found.append(Recipient(address=person.email, channel=Channel.EMAIL, language=wanted.language))
    return found
