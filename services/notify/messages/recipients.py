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
from typing import Any

import sqlalchemy as sql
from sqlalchemy import String, bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Channel, Person, StaffPreferences, StaffPreferencesBase
from services.notify.settings import WebhookEndpoint
from shared.db import table_of
from shared.driver_statements import DriverStatement, PerCount, numbered, numbered_values
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
            known = await staff_named(session, usernames)
        else:
            known = await _staff(session, _OFFICERS_OF_UNIT, {"unit_code": event.unit_code})
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


@dataclass(frozen=True)
class Contact:
    """What telling a member of staff needs of the directory copy's row."""

    active: bool
    email: str | None


Known = Mapping[str, tuple[Contact, StaffPreferencesBase]]

_PEOPLE = table_of(Person)
_PREFERENCES = table_of(StaffPreferences)
# Each person with their preferences, read together (none stored: the columns are NULL).
_STAFF = sql.select(
    _PEOPLE.c.username,
    _PEOPLE.c.active,
    _PEOPLE.c.email,
    _PREFERENCES.c.language,
    _PREFERENCES.c.email_alerts,
    _PREFERENCES.c.daily_digest,
).select_from(_PEOPLE.outerjoin(_PREFERENCES, _PREFERENCES.c.username == _PEOPLE.c.username))
# Read for every step assigned to a unit, and for every alert: on the driver.
_OFFICERS_OF_UNIT = DriverStatement(
    _STAFF.where(
        _PEOPLE.c.unit_code == bindparam("unit_code"), _PEOPLE.c.role == "officer", _PEOPLE.c.active.is_(True)
    )
)
# By the number of people named.
_NAMED = PerCount(lambda count: _STAFF.where(_PEOPLE.c.username.in_(numbered("name", count, String()))))


async def staff_named(session: AsyncSession, usernames: Sequence[str]) -> Known:
    """The people of the directory copy named, each with their preferences (the defaults for someone
    who never set any)."""
    names = list(dict.fromkeys(usernames))
    if not names:
        return {}
    return await _staff(session, _NAMED[len(names)], numbered_values("name", names))


async def _staff(session: AsyncSession, statement: DriverStatement, parameters: dict[str, Any]) -> Known:
    known: dict[str, tuple[Contact, StaffPreferencesBase]] = {}
    for username, active, email, language, email_alerts, digest in await statement.rows(session, parameters):
        preferences = (
            StaffPreferencesBase()
            if language is None  # none stored
            else StaffPreferencesBase(language=language, email_alerts=email_alerts, daily_digest=digest)
        )
        known[username] = (Contact(active=bool(active), email=email), preferences)
    return known


async def staff_recipients(
    *, session: AsyncSession, usernames: Sequence[str], alert: bool
) -> list[Recipient]:
    """See ``addressed``: the people named, read from the directory copy."""
    if not usernames:
        return []
    return addressed(usernames, await staff_named(session, usernames), alert=alert)


def addressed(usernames: Sequence[str], known: Known, *, alert: bool) -> list[Recipient]:
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
