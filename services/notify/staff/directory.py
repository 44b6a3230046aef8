"""Notify's copy of the staff directory: who is who, for addressing alerts and checking callers.

Processing owns the directory and publishes every person at start and on every edit; the copy keeps
the newest version of each person it has seen, by the moment of the change and then, for two changes
at the same moment, by event id: whatever order the events arrive in, the same one wins.
"""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Person
from shared.db import insert_ignoring_duplicates
from shared.events import DirectoryPersonChanged


async def record_person(*, session: AsyncSession, event: DirectoryPersonChanged) -> None:
    """Insert the person, or overwrite them unless the copy already holds a newer change."""
    values = {
        "full_name": event.full_name,
        "role": event.role,
        "agency_code": event.agency_code,
        "unit_code": event.unit_code,
        "email": event.email,
        "active": event.active,
        "changed_at": event.occurred_at,
        "changed_by_event": str(event.event_id),
    }
    inserted = await session.execute(
        insert_ignoring_duplicates(session, Person)
        .values(username=event.username, **values)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    if inserted.rowcount:  # type: ignore[attr-defined]
        return
    older = or_(
        col(Person.changed_at) < event.occurred_at,
        and_(
            col(Person.changed_at) == event.occurred_at,
            col(Person.changed_by_event) < str(event.event_id),
        ),
    )
    person = col(Person.username) == event.username
    await session.execute(update(Person).where(person, older).values(**values))


async def find_active(*, session: AsyncSession, username: str) -> Person | None:
    person = await session.get(Person, username)
    return person if person is not None and person.active else None
