"""The directory of agencies, units and people, and the working-calendar overrides admins edit.

What the embedded default seeds into it is in ``services/processing/seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Agency, Person, Unit
from services.processing.sign_in.store import end_sessions_of
from shared.bus.outbox import Outbox
from shared.driver_statements import DriverStatement
from shared.errors import Conflict, Invalid, NotFound
from shared.events import DirectoryPersonChanged
from shared.staff import ROLES, Role, Staff


# -- errors -----------------------------------------------------------------------------------------
class UnknownEntry(NotFound):
    """The agency, unit, person or calendar day addressed does not exist."""


class DirectoryConflict(Conflict):
    """The change clashes with what exists: a code or username taken, or the last admin leaving."""


class InvalidEntry(Invalid):
    """The change breaks a rule of the directory; the message says which."""


# -- what admins send -------------------------------------------------------------------------------
# National agency codes look like 000.00.12.H56; unit codes are the province's own.
_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_USERNAME = r"^[a-z0-9][a-z0-9._-]*$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AgencyCreate(_Input):
    code: str = Field(min_length=1, max_length=40, pattern=_CODE)
    name: str = Field(min_length=1, max_length=300)


class AgencyUpdate(_Input):
    name: str = Field(min_length=1, max_length=300)


class UnitCreate(_Input):
    code: str = Field(min_length=1, max_length=40, pattern=_CODE)
    agency_code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=300)
    receives_dossiers: bool = False


class UnitUpdate(_Input):
    """A unit stays in its agency: moving it would strand its people and its procedures' steps."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    receives_dossiers: bool | None = None


class PersonCreate(_Input):
    username: str = Field(min_length=1, max_length=80, pattern=_USERNAME)
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    agency_code: str | None = Field(default=None, max_length=40)
    unit_code: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    active: bool = True


class PersonUpdate(_Input):
    """Only the fields sent change; ``unit_code`` or ``agency_code`` may be sent as null to clear them.
    A new unit without an agency moves the person to the unit's agency."""

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    agency_code: str | None = Field(default=None, max_length=40)
    unit_code: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    active: bool | None = None


class AgencyDetail(BaseModel):
    code: str
    name: str
    units: list[Unit]


# -- agencies ---------------------------------------------------------------------------------------
async def list_agencies(session: AsyncSession) -> list[Agency]:
    return list((await session.exec(select(Agency).order_by(col(Agency.code)))).all())


async def get_agency(session: AsyncSession, *, code: str) -> Agency | None:
    return await session.get(Agency, code)


async def agency_detail(session: AsyncSession, *, code: str) -> AgencyDetail:
    agency = await _agency(session, code=code)
    units = await list_units(session, agency_code=code)
    return AgencyDetail(code=agency.code, name=agency.name, units=units)


async def create_agency(session: AsyncSession, *, agency: AgencyCreate) -> Agency:
    if await session.get(Agency, agency.code) is not None:
        raise DirectoryConflict(f"agency {agency.code} already exists")
    row = Agency.model_validate(agency)
    session.add(row)
    await session.flush()
    return row


async def update_agency(session: AsyncSession, *, code: str, changes: AgencyUpdate) -> Agency:
    """Rename an agency. Published procedure versions keep the name they were published with."""
    row = await _agency(session, code=code)
    row.name = changes.name
    session.add(row)
    await session.flush()
    return row


async def _agency(session: AsyncSession, *, code: str) -> Agency:
    row = await session.get(Agency, code)
    if row is None:
        raise UnknownEntry(f"agency {code} not found")
    return row


# -- units ------------------------------------------------------------------------------------------
async def list_units(session: AsyncSession, *, agency_code: str | None = None) -> list[Unit]:
    statement = select(Unit).order_by(col(Unit.agency_code), col(Unit.code))
    if agency_code is not None:
        statement = statement.where(Unit.agency_code == agency_code)
    return list((await session.exec(statement)).all())


async def units_by_code(session: AsyncSession, *, codes: Iterable[str]) -> dict[str, Unit]:
    rows = (await session.exec(select(Unit).where(col(Unit.code).in_(set(codes))))).all()
    return {row.code: row for row in rows}


async def create_unit(session: AsyncSession, *, unit: UnitCreate) -> Unit:
    if await session.get(Unit, unit.code) is not None:
        raise DirectoryConflict(f"unit {unit.code} already exists")
    if await session.get(Agency, unit.agency_code) is None:
        raise InvalidEntry(f"agency {unit.agency_code} does not exist")
    row = Unit.model_validate(unit)
    session.add(row)
    await session.flush()
    return row


async def update_unit(session: AsyncSession, *, code: str, changes: UnitUpdate) -> Unit:
    row = await session.get(Unit, code)
    if row is None:
        raise UnknownEntry(f"unit {code} not found")
    if changes.name is not None:
        row.name = changes.name
    if changes.receives_dossiers is not None:
        row.receives_dossiers = changes.receives_dossiers
    session.add(row)
    await session.flush()
    return row


async def receiving_unit(session: AsyncSession, *, agency_code: str) -> Unit | None:
    statement = select(Unit).where(Unit.agency_code == agency_code, col(Unit.receives_dossiers).is_(True))
    return (await session.exec(statement)).first()


# -- people -----------------------------------------------------------------------------------------
async def enrol_person(session: AsyncSession, outbox: Outbox, *, person: PersonCreate) -> Person:
    """Create a person and, in the same transaction, tell the other services who they are: the one
    way in for the admin API and ``motcua admin create``."""
    row = await create_person(session, person=person)
    await outbox.add(session, person_changed(row))
    return row


async def find_person(session: AsyncSession, *, username: str) -> Person | None:
    person = await session.get(Person, username)
    return person if person is not None and person.active else None


# Built once: every request of staff reads it.
_STAFF = DriverStatement(
    select(col(Person.username), col(Person.role), col(Person.agency_code), col(Person.unit_code)).where(
        col(Person.username) == bindparam("username"), col(Person.active).is_(True)
    )
)


async def find_staff(session: AsyncSession, *, username: str) -> Staff | None:
    """The active member of staff ``username``, read as four columns on the driver: every request of
    staff asks."""
    for found, role, agency_code, unit_code in await _STAFF.rows(session, {"username": username}):
        return Staff(username=found, role=role, agency_code=agency_code, unit_code=unit_code)
    return None


async def list_people(
    session: AsyncSession,
    *,
    unit_code: str | None = None,
    agency_code: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> list[Person]:
    statement = select(Person).order_by(col(Person.username))
    if unit_code is not None:
        statement = statement.where(Person.unit_code == unit_code)
    if agency_code is not None:
        statement = statement.where(Person.agency_code == agency_code)
    if role is not None:
        statement = statement.where(Person.role == role)
    if active is not None:
        statement = statement.where(Person.active == active)
    return list((await session.exec(statement)).all())


async def create_person(session: AsyncSession, *, person: PersonCreate) -> Person:
    if await session.get(Person, person.username) is not None:
        raise DirectoryConflict(f"user {person.username} already exists")
    row = Person.model_validate(person)
    row.agency_code = await _checked_placement(
        session, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )
    session.add(row)
    await session.flush()
    return row


_NOT_NULLABLE = frozenset({"full_name", "role", "active"})


async def update_person(session: AsyncSession, *, username: str, changes: PersonUpdate) -> Person:
    row = await session.get(Person, username)
    if row is None:
        raise UnknownEntry(f"user {username} not found")
    sent: dict[str, Any] = changes.model_dump(exclude_unset=True)
    if cleared := sorted(name for name in _NOT_NULLABLE if name in sent and sent[name] is None):
        raise InvalidEntry(f"{', '.join(cleared)} cannot be empty")
    if "unit_code" in sent and "agency_code" not in sent and sent["unit_code"] is not None:
        # Moving someone to a unit of another agency moves them to that agency.
        sent["agency_code"] = None
    was_active_admin = row.role == "admin" and row.active
    for name, value in sent.items():
        setattr(row, name, value)
    row.agency_code = await _checked_placement(
        session, role=row.role, agency_code=row.agency_code, unit_code=row.unit_code
    )
    if was_active_admin and not (row.role == "admin" and row.active):
        await _keep_an_admin(session, leaving=username)
    if not row.active:
        # Deactivated: signed in nowhere any more (their bearer tokens stop at the next request too).
        await end_sessions_of(session, username=username)
    session.add(row)
    await session.flush()
    return row


async def _checked_placement(
    session: AsyncSession, *, role: str, agency_code: str | None, unit_code: str | None
) -> str | None:
    """Check where a person sits for their role; returns their agency (the unit's when none given)."""
    if role not in ROLES:
        raise InvalidEntry(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if unit_code is not None:
        unit = await session.get(Unit, unit_code)
        if unit is None:
            raise InvalidEntry(f"unit {unit_code} does not exist")
        if agency_code is None:
            agency_code = unit.agency_code
        elif unit.agency_code != agency_code:
            raise InvalidEntry(f"unit {unit_code} belongs to agency {unit.agency_code}, not {agency_code}")
    if agency_code is not None and await session.get(Agency, agency_code) is None:
        raise InvalidEntry(f"agency {agency_code} does not exist")
    if role in {"officer", "manager"} and unit_code is None:
        raise InvalidEntry(f"an {role} works in a unit: unit_code is required")
    if role == "leader" and agency_code is None:
        raise InvalidEntry("a leader heads an agency: agency_code is required")
    return agency_code


async def _keep_an_admin(session: AsyncSession, *, leaving: str) -> None:
    statement = (
        select(func.count())
        .select_from(Person)
        .where(Person.role == "admin", col(Person.active).is_(True), Person.username != leaving)
    )
    if (await session.exec(statement)).one() == 0:
        raise DirectoryConflict(f"{leaving} is the last active admin; make someone else admin first")


def person_changed(person: Person) -> DirectoryPersonChanged:
    """The event that tells other services who this person now is."""
    return DirectoryPersonChanged(
        username=person.username,
        full_name=person.full_name,
        role=person.role,
        agency_code=person.agency_code,
        unit_code=person.unit_code,
        email=person.email,
        active=person.active,
    )


async def publish_directory(session: AsyncSession, outbox: Outbox) -> None:
    """Publish everyone at start, so that a service that lost its copy of the directory gets it back."""
    people = (await session.exec(select(Person).order_by(col(Person.username)))).all()
    await outbox.add(session, *(person_changed(person) for person in people))
