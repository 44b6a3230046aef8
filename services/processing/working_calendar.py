"""The working calendar admins keep: the days off and make-up working days the province announces
beyond the public holidays, and the calendar a procedure counts its deadlines in."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from typing import cast

import holidays
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, delete, event
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.clocks import calendar_for
from services.processing.directory import InvalidEntry, UnknownEntry
from services.processing.models import CalendarOverride
from shared.db import memo_of
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
    _forget_overrides(session)


async def delete_calendar_day(session: AsyncSession, *, year: int, day: date) -> None:
    if day.year != year:
        raise InvalidEntry(f"{day.isoformat()} is not in {year}")
    row = await session.get(CalendarOverride, day)
    if row is None:
        raise UnknownEntry(f"no calendar override on {day.isoformat()}")
    await session.delete(row)
    await session.flush()
    _forget_overrides(session)


def _within(year: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    day = col(CalendarOverride.day)
    return day >= date(year, 1, 1), day < date(year + 1, 1, 1)


# How long a process counts on the overrides it read: another replica's replacement reaches it within
# this time, its own at once (``_forget_overrides``).
OVERRIDES_MEMO_SECONDS = 30.0
_OVERRIDES = "calendar overrides"
_OVERRIDES_GENERATION = "calendar overrides generation"


async def calendar_overrides(session: AsyncSession) -> dict[date, bool]:
    """The announced swaps, read once every ``OVERRIDES_MEMO_SECONDS`` at most: every action counts
    deadlines on them, and they change a few times a year."""
    memo = memo_of(session)
    known = memo.get(_OVERRIDES)
    if known is not None and time.monotonic() - known[0] < OVERRIDES_MEMO_SECONDS:
        return cast(dict[date, bool], known[1])
    generation = memo.get(_OVERRIDES_GENERATION, 0)
    rows = (await session.exec(select(CalendarOverride))).all()
    overrides = {row.day: row.working for row in rows}
    # Unless this process replaced them meanwhile: then what was just read may predate that.
    if memo.get(_OVERRIDES_GENERATION, 0) == generation:
        memo[_OVERRIDES] = (time.monotonic(), overrides)
    return overrides


def _forget_overrides(session: AsyncSession) -> None:
    """Read the overrides again from the next action on, and once more after this commit, so that no
    request reading them before it keeps the old ones."""
    memo = memo_of(session)

    def forget(_session: object = None) -> None:
        memo.pop(_OVERRIDES, None)
        memo[_OVERRIDES_GENERATION] = memo.get(_OVERRIDES_GENERATION, 0) + 1

    forget()
    event.listen(session.sync_session, "after_commit", forget, once=True)


async def calendar_of(session: AsyncSession, procedure: ProcedureVersion) -> WorkingCalendar:
    """The working-time calendar a procedure counts in, with this year's announced swaps."""
    return calendar_for(procedure.calendar, await calendar_overrides(session))
