"""Working-time calendar for statutory processing deadlines.

Durations are expressed in working hours (``HOURS_PER_DAY`` hours = one working day) and are
rounded to whole minutes. Instants are never rounded: a dossier accepted at 09:32:40 is due at
09:32:40 on the due day, which keeps ``working_hours_between`` an exact inverse of
``deadline_after``. ``working_hours_between`` floors its result to whole minutes, so
``deadline_after(a, working_hours_between(a, b)) <= b`` whenever ``a`` is inside office hours.

Days off are Saturdays, Sundays and Vietnam's public holidays as published by the ``holidays``
package (including days off in lieu and swapped days), then adjusted by an admin-edited override
table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "HOURS_PER_DAY",
    "VN_TZ",
    "CalendarMode",
    "OfficeHours",
    "WorkingCalendar",
    "load_holidays",
]

HOURS_PER_DAY: Final = 8
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_US_PER_SECOND: Final = 1_000_000
_US_PER_MINUTE: Final = 60 * _US_PER_SECOND
_US_PER_DAY: Final = 24 * 60 * _US_PER_MINUTE
_ONE_DAY: Final = timedelta(days=1)
_ONE_MINUTE: Final = timedelta(minutes=1)
# One working hour stretches over 24 / HOURS_PER_DAY real hours when counting calendar days.
_CALENDAR_STRETCH: Final = 24 // HOURS_PER_DAY
_SATURDAY: Final = 5


class CalendarMode(StrEnum):
    """How a duration in working hours maps onto real time."""

    WORKING = "working"
    CALENDAR_DAYS = "calendar_days"
    ALWAYS = "always"


_DEFAULT_INTERVALS: Final = (
    (time(7, 0), time(11, 30)),
    (time(13, 30), time(17, 0)),
)


@dataclass(frozen=True)
class OfficeHours:
    """Office intervals of a working day as ``(start, end)`` wall-clock times, in order."""

    intervals: tuple[tuple[time, time], ...] = _DEFAULT_INTERVALS

    def __post_init__(self) -> None:
        intervals = tuple((start, end) for start, end in self.intervals)
        if not intervals:
            raise ValueError("office hours need at least one interval")
        previous_end: time | None = None
        for start, end in intervals:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office hours are wall-clock times and must be naive")
            if start >= end:
                raise ValueError(f"office interval {start}-{end} is empty or reversed")
            if previous_end is not None and start < previous_end:
                raise ValueError("office intervals must be sorted and must not overlap")
            previous_end = end
        object.__setattr__(self, "intervals", intervals)

    def contains(self, moment: time) -> bool:
        """Whether a wall-clock time is inside an interval, both ends included."""
        return any(start <= moment <= end for start, end in self.intervals)

    @property
    def hours_per_day(self) -> float:
        """Office hours in one working day."""
        return sum(_time_us(end) - _time_us(start) for start, end in self.intervals) / (60 * _US_PER_MINUTE)


def _time_us(moment: time) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * _US_PER_SECOND + moment.microsecond


def _us_time(us: int) -> time:
    seconds, micro = divmod(us, _US_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


@cache
def _vn_year_raw(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Holidays and weekend working days exactly as one ``holidays`` year yields them."""
    # Building a holidays object costs milliseconds; deadlines are computed thousands of times.
    vn = holidays.country_holidays("VN", years=year)
    return frozenset(vn.keys()), frozenset(vn.weekend_workdays)


@cache
def _vn_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Days off and make-up weekend working days that fall within ``year``."""
    # A swap decided for one year can land in a neighbouring one (e.g. 31/12/2018 off for 5/1/2019),
    # so the neighbours' data is merged and filtered by the actual date.
    days_off: set[date] = set()
    workdays: set[date] = set()
    for source_year in (year - 1, year, year + 1):
        off, work = _vn_year_raw(source_year)
        days_off.update(day for day in off if day.year == year)
        workdays.update(day for day in work if day.year == year)
    return frozenset(days_off), frozenset(workdays)


def load_holidays(around: date) -> None:
    """Read the holiday tables of ``around``'s year and the next into memory now. The first read
    imports and builds ``holidays``' tables, a third of a second of CPU that the first deadline
    computed would otherwise wait for: a service calls this as it starts."""
    for year in (around.year, around.year + 1):
        _vn_year(year)


def _whole_minutes(working_hours: float) -> int:
    if not math.isfinite(working_hours) or working_hours < 0:
        raise ValueError(f"duration must be a finite, non-negative number of hours, got {working_hours!r}")
    return round(working_hours * 60)


class WorkingCalendar:
    """Computes deadlines and elapsed working time for one calendar configuration."""

    def __init__(
        self,
        mode: CalendarMode = CalendarMode.WORKING,
        *,
        tz: ZoneInfo = VN_TZ,
        office_hours: OfficeHours | None = None,
        overrides: Mapping[date, bool] | None = None,
    ) -> None:
        self._mode = CalendarMode(mode)
        self._tz = tz
        self._office_hours = office_hours if office_hours is not None else OfficeHours()
        self._bounds: tuple[tuple[int, int], ...] = tuple(
            (_time_us(start), _time_us(end)) for start, end in self._office_hours.intervals
        )
        # Copied so that later edits to the admin table cannot change deadlines already issued.
        self._overrides: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            if isinstance(day, datetime):
                raise TypeError(f"override keys must be dates, not datetimes: {day!r}")
            self._overrides[day] = bool(working)

    @property
    def mode(self) -> CalendarMode:
        return self._mode

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def office_hours(self) -> OfficeHours:
        return self._office_hours

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day; an aware datetime is judged by its local date."""
        if isinstance(day, datetime):
            day = self._local(day).date()
        override = self._overrides.get(day)
        if override is not None:
            return override
        days_off, weekend_workdays = _vn_year(day.year)
        if day.weekday() >= _SATURDAY:
            return day in weekend_workdays
        return day not in days_off

    def deadline_after(self, start: datetime, working_hours: float) -> datetime:
        """The instant at which ``working_hours`` (rounded to whole minutes) have elapsed since ``start``."""
        local = self._local(start)
        minutes = _whole_minutes(working_hours)
        if self._mode is CalendarMode.ALWAYS:
            return (local.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(self._tz)
        if self._mode is CalendarMode.CALENDAR_DAYS:
            # Wall-clock arithmetic on purpose: a calendar-day deadline keeps the clock time.
            due = local + timedelta(minutes=minutes * _CALENDAR_STRETCH)
            while not self.is_working_day(due.date()):
                due += _ONE_DAY
            return due
        return self._walk_office_time(local, minutes * _US_PER_MINUTE)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b``, floored to whole minutes; 0 when ``b <= a``."""
        local_a = self._local(a)
        local_b = self._local(b)
        if local_b <= local_a:
            return 0.0
        if self._mode is CalendarMode.ALWAYS:
            elapsed = local_b.astimezone(UTC) - local_a.astimezone(UTC)
            return (elapsed // _ONE_MINUTE) / 60
        if self._mode is CalendarMode.CALENDAR_DAYS:
            # Same tzinfo on both sides, so this is wall-clock time, matching deadline_after.
            elapsed = local_b - local_a
            return (elapsed // (_ONE_MINUTE * _CALENDAR_STRETCH)) / 60
        return (self._office_us_between(local_a, local_b) // _US_PER_MINUTE) / 60

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"datetime must be timezone-aware, got {moment!r}")
        return moment.astimezone(self._tz)

    def _walk_office_time(self, local: datetime, remaining: int) -> datetime:
        day = local.date()
        position = _time_us(local.time())
        # Each iteration handles a whole day in O(intervals), so long holidays and long durations
        # cost one step per calendar day.
        while True:
            if self.is_working_day(day):
                for start, end in self._bounds:
                    # Inclusive end: a zero duration at 11:30 stays at 11:30.
                    if position > end:
                        continue
                    position = max(position, start)
                    available = end - position
                    if remaining <= available:
                        return datetime.combine(day, _us_time(position + remaining), tzinfo=self._tz)
                    remaining -= available
                    position = end
            day += _ONE_DAY
            position = 0

    def _office_us_between(self, local_a: datetime, local_b: datetime) -> int:
        first_day, last_day = local_a.date(), local_b.date()
        first_position = _time_us(local_a.time())
        last_position = _time_us(local_b.time())
        total = 0
        day = first_day
        while day <= last_day:
            if self.is_working_day(day):
                low = first_position if day == first_day else 0
                high = last_position if day == last_day else _US_PER_DAY
                for start, end in self._bounds:
                    total += max(0, min(end, high) - max(start, low))
            day += _ONE_DAY
        return total
