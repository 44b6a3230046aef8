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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

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
        usernames = (
            [event.assignee]
            if event.assignee
            else await unit_officers(session=session, unit_code=event.unit_code)
        )
        others = [username for username in usernames if username != event.assigned_by]
        found.extend(await staff_recipients(session=session, usernames=others, alert=False))
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


async def unit_officers(*, session: AsyncSession, unit_code: str) -> list[str]:
    statement = (
        select(Person.username)
        .where(Person.unit_code == unit_code, Person.role == "officer", col(Person.active).is_(True))
        .order_by(col(Person.username))
    )
    return list((await session.exec(statement)).all())


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


async def staff_recipients(
    *, session: AsyncSession, usernames: Sequence[str], alert: bool
) -> list[Recipient]:
    """The inbox of each person, and for an alert their email too. People the directory copy knows
    as inactive hear nothing; someone it does not know yet still gets the inbox message."""
    if not usernames:
        return []
    people = {
        person.username: person
        for person in (await session.exec(select(Person).where(col(Person.username).in_(usernames)))).all()
    }
    preferences = await preferences_of(session=session, usernames=usernames)
    found: list[Recipient] = []
    for username in usernames:
        person = people.get(username)
        if person is not None and not person.active:
            continue
        wanted = preferences[username]
        if alert and wanted.daily_digest:
            continue
        found.append(Recipient(address=username, language=wanted.language))
        if alert and wanted.email_alerts and person is not None and person.email:
            found.append(Recipient(address=person.email, channel=Channel.EMAIL, language=wanted.language))
    return found
