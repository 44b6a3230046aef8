"""The directory of agencies, units and people, the working-calendar overrides admins edit, and the
directory the embedded default seeds.

The seed agencies and units are the real offices the seed procedures' published workflows route
through, so they are seeded on every start. The seed people are not: their names are placeholders,
their mail goes to ``demo.motcua.vn``, and their usernames are predictable, so they exist only in the
demo (``MOTCUA_DEMO=true``), where anyone trying motcua can get a token for any step of any seed
procedure (``motcua token USER``). Elsewhere the first admin is made with ``motcua admin create``.

- every seed unit has an officer ``{unit}-officer`` and a manager (unit head) ``{unit}-manager``;
- every seed agency has a leader ``{agency}-leader``;

where ``{unit}`` and ``{agency}`` are the codes in lower case with dots turned into dashes, e.g.
``h56-syt-btxh-officer`` for unit ``H56.SYT.BTXH`` and ``000-00-12-h56-leader`` for agency
``000.00.12.H56``. The demo users ``demo-officer``, ``demo-manager``, ``demo-leader``, ``demo-admin`` and
``syt-officer`` are seeded beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal, get_args

import holidays
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, delete, inspect
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.clocks import calendar_for
from services.processing.models import Agency, CalendarOverride, Person, Unit
from shared.bus.outbox import Outbox
from shared.db import insert_ignoring_duplicates
from shared.errors import Conflict, Invalid, NotFound
from shared.events import DirectoryPersonChanged, ProcedureVersion
from shared.working_time import WorkingCalendar

Role = Literal["officer", "manager", "leader", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

DEMO_AGENCY = "000.00.06.H56"
DEMO_RECEIVING_UNIT = "H56.HC.MOTCUA"
SYT_AGENCY = "000.00.12.H56"
SYT_RECEIVING_UNIT = "H56.SYT.MOTCUA"
PROVINCE_OFFICE_AGENCY = "000.00.01.H56"  # Văn phòng UBND tỉnh

SEED_AGENCIES = (
    Agency(code=DEMO_AGENCY, name="UBND phường Hải Châu"),
    Agency(code=SYT_AGENCY, name="Sở Y tế"),
    Agency(code=PROVINCE_OFFICE_AGENCY, name="Văn phòng UBND tỉnh"),
)

SEED_UNITS = (
    Unit(code=DEMO_RECEIVING_UNIT, agency_code=DEMO_AGENCY, name="Bộ phận Một cửa", receives_dossiers=True),
    Unit(code="H56.HC.TUPHAP", agency_code=DEMO_AGENCY, name="Công chức Tư pháp - Hộ tịch"),
    Unit(code="H56.HC.VHXH", agency_code=DEMO_AGENCY, name="Phòng Văn hóa - Xã hội"),
    Unit(code="H56.HC.KT", agency_code=DEMO_AGENCY, name="Phòng Kinh tế"),
    Unit(code="H56.HC.CA", agency_code=DEMO_AGENCY, name="Công an phường"),
    Unit(code="H56.HC.LD", agency_code=DEMO_AGENCY, name="Lãnh đạo UBND phường"),
    Unit(code="H56.HC.VT", agency_code=DEMO_AGENCY, name="Văn thư UBND phường"),
    Unit(
        code=SYT_RECEIVING_UNIT,
        agency_code=SYT_AGENCY,
        name="Quầy Sở Y tế tại Trung tâm Phục vụ hành chính công",
        receives_dossiers=True,
    ),
    Unit(code="H56.SYT.BTXH", agency_code=SYT_AGENCY, name="Phòng Bảo trợ xã hội và Trẻ em"),
    Unit(code="H56.SYT.LD", agency_code=SYT_AGENCY, name="Lãnh đạo Sở Y tế"),
    Unit(code="H56.SYT.VT", agency_code=SYT_AGENCY, name="Văn thư Sở Y tế"),
    Unit(code="H56.VPUB.KGVX", agency_code=PROVINCE_OFFICE_AGENCY, name="Phòng Khoa giáo - Văn xã"),
    Unit(code="H56.VPUB.VT", agency_code=PROVINCE_OFFICE_AGENCY, name="Văn thư Văn phòng UBND tỉnh"),
)

_DEMO_PEOPLE = (
    Person(
        username="demo-officer",
        full_name="Trần Thị Bình",
        role="officer",
        agency_code=DEMO_AGENCY,
        unit_code=DEMO_RECEIVING_UNIT,
        email="officer@demo.motcua.vn",
    ),
    Person(
        username="demo-manager",
        full_name="Lê Văn Cường",
        role="manager",
        agency_code=DEMO_AGENCY,
        unit_code=DEMO_RECEIVING_UNIT,
        email="manager@demo.motcua.vn",
    ),
    Person(
        username="demo-leader",
        full_name="Phạm Thị Dung",
        role="leader",
        agency_code=DEMO_AGENCY,
        unit_code="H56.HC.LD",
        email="leader@demo.motcua.vn",
    ),
    Person(username="demo-admin", full_name="Quản trị hệ thống", role="admin", email="admin@demo.motcua.vn"),
    Person(
        username="syt-officer",
        full_name="Hoàng Văn Em",
        role="officer",
        agency_code=SYT_AGENCY,
        unit_code=SYT_RECEIVING_UNIT,
        email="officer@syt.motcua.vn",
    ),
)


def username_slug(code: str) -> str:
    """A unit or agency code as it appears in seed usernames: ``H56.SYT.BTXH`` → ``h56-syt-btxh``."""
    return code.lower().replace(".", "-")


def _seed_staff(agencies: Iterable[Agency], units: Iterable[Unit]) -> tuple[Person, ...]:
    people: list[Person] = []
    for unit in units:
        for role, title in (("officer", "Cán bộ"), ("manager", "Phụ trách")):
            username = f"{username_slug(unit.code)}-{role}"
            people.append(
                Person(
                    username=username,
                    full_name=f"{title} {unit.name}",
                    role=role,
                    agency_code=unit.agency_code,
                    unit_code=unit.code,
                    email=f"{username}@demo.motcua.vn",
                )
            )
    for agency in agencies:
        username = f"{username_slug(agency.code)}-leader"
        people.append(
            Person(
                username=username,
                full_name=f"Lãnh đạo {agency.name}",
                role="leader",
                agency_code=agency.code,
                email=f"{username}@demo.motcua.vn",
            )
        )
    return tuple(people)


SEED_PEOPLE = _DEMO_PEOPLE + _seed_staff(SEED_AGENCIES, SEED_UNITS)


async def seed_directory(session: AsyncSession, *, demo: bool) -> None:
    """Insert the seed agencies and units that are missing, and with ``demo`` the seed people too;
    never overwrite edits.

    ``ON CONFLICT DO NOTHING`` lets replicas that start together on one database seed it at once.
    """
    seeds: list[tuple[type[Agency | Unit | Person], tuple[Agency | Unit | Person, ...]]] = [
        (Agency, SEED_AGENCIES),
        (Unit, SEED_UNITS),
    ]
    if demo:
        seeds.append((Person, SEED_PEOPLE))
    for kind, rows in seeds:
        statement = insert_ignoring_duplicates(session, inspect(kind).local_table)
        await session.execute(statement.values([row.model_dump() for row in rows]).on_conflict_do_nothing())


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


# -- working calendar -------------------------------------------------------------------------------
class CalendarDay(_Input):
    """An override of one day: an extra day off (``working`` false) or a make-up working day (true)."""

    day: date
    working: bool
    note: str = Field(default="", max_length=500)


class PublicHoliday(BaseModel):
    day: date
    name: str


class CalendarYear(BaseModel):
    """A year's overrides, and for reference the public holidays and make-up working Saturdays the
    ``holidays`` package knows (the overrides adjust these)."""

    year: int
    overrides: list[CalendarDay]
    public_holidays: list[PublicHoliday]
    make_up_working_days: list[date]


def public_holidays(year: int) -> tuple[list[PublicHoliday], list[date]]:
    """Vietnam's days off and make-up working days that fall in ``year``, in Vietnamese."""
    # A swap decided for one year can land in the next, so the neighbours are read too.
    known = holidays.country_holidays("VN", years=(year - 1, year, year + 1), language="vi")
    days_off = [PublicHoliday(day=day, name=name) for day, name in sorted(known.items()) if day.year == year]
    workdays = sorted(day for day in known.weekend_workdays if day.year == year)
    return days_off, workdays


async def calendar_year(session: AsyncSession, *, year: int) -> CalendarYear:
    statement = select(CalendarOverride).where(*_within(year)).order_by(col(CalendarOverride.day))
    rows = (await session.exec(statement)).all()
    days_off, workdays = public_holidays(year)
    return CalendarYear(
        year=year,
        overrides=[CalendarDay(day=row.day, working=row.working, note=row.note) for row in rows],
        public_holidays=days_off,
        make_up_working_days=workdays,
    )


async def replace_calendar_year(session: AsyncSession, *, year: int, days: list[CalendarDay]) -> None:
    """Make ``days`` the year's overrides. Deadlines already issued keep the calendar they had."""
    outside = sorted({item.day for item in days if item.day.year != year})
    if outside:
        raise InvalidEntry(f"days outside {year}: {', '.join(day.isoformat() for day in outside)}")
    repeated = sorted(day for day, count in Counter(item.day for item in days).items() if count > 1)
    if repeated:
        raise InvalidEntry(f"days given more than once: {', '.join(day.isoformat() for day in repeated)}")
    await session.execute(delete(CalendarOverride).where(*_within(year)))
    session.add_all(CalendarOverride(day=item.day, working=item.working, note=item.note) for item in days)
    await session.flush()


async def delete_calendar_day(session: AsyncSession, *, year: int, day: date) -> None:
    if day.year != year:
        raise InvalidEntry(f"{day.isoformat()} is not in {year}")
    row = await session.get(CalendarOverride, day)
    if row is None:
        raise UnknownEntry(f"no calendar override on {day.isoformat()}")
    await session.delete(row)
    await session.flush()


def _within(year: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    day = col(CalendarOverride.day)
    return day >= date(year, 1, 1), day < date(year + 1, 1, 1)


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


async def calendar_overrides(session: AsyncSession) -> dict[date, bool]:
    rows = (await session.exec(select(CalendarOverride))).all()
    return {row.day: row.working for row in rows}


async def calendar_of(session: AsyncSession, procedure: ProcedureVersion) -> WorkingCalendar:
    """The working-time calendar a procedure counts in, with this year's announced swaps."""
    return calendar_for(procedure.calendar, await calendar_overrides(session))
