"""The working calendar admins keep: the days off and make-up working days the province announces
beyond the public holidays, and the calendar a procedure counts its deadlines in."""

from __future__ import annotations

from collections import Counter
from datetime import date

import holidays
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.clocks import calendar_for
from services.processing.directory import InvalidEntry, UnknownEntry
from services.processing.models import CalendarOverride
from shared.events import ProcedureVersion
from shared.working_time import WorkingCalendar


class CalendarDay(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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


async def calendar_overrides(session: AsyncSession) -> dict[date, bool]:
    rows = (await session.exec(select(CalendarOverride))).all()
    return {row.day: row.working for row in rows}


async def calendar_of(session: AsyncSession, procedure: ProcedureVersion) -> WorkingCalendar:
    """The working-time calendar a procedure counts in, with this year's announced swaps."""
    return calendar_for(procedure.calendar, await calendar_overrides(session))
