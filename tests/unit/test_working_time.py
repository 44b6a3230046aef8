"""Tests for the working-time calendar (office hours, VN holidays, overrides, modes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.working_time import (
    HOURS_PER_DAY,
    VN_TZ,
    CalendarMode,
    OfficeHours,
    WorkingCalendar,
)

WORKING = WorkingCalendar()
CALENDAR_DAYS = WorkingCalendar(CalendarMode.CALENDAR_DAYS)
ALWAYS = WorkingCalendar(CalendarMode.ALWAYS)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=VN_TZ)


def is_office_time(calendar: WorkingCalendar, moment: datetime) -> bool:
    local = moment.astimezone(calendar.tz)
    return calendar.is_working_day(local.date()) and calendar.office_hours.contains(local.time())


# Aware starts anywhere in 2023-2026, in the calendar's zone or in UTC, with sub-minute parts.
any_start = st.datetimes(
    min_value=datetime(2023, 1, 1),
    max_value=datetime(2026, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([VN_TZ, UTC]),
)
whole_minute_hours = st.integers(min_value=0, max_value=400 * 60).map(lambda minutes: minutes / 60)


@st.composite
def office_start(draw: st.DrawFn) -> datetime:
    """A start inside office hours (interval ends included) on a working day."""
    day = draw(
        st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31)).filter(WORKING.is_working_day)
    )
    start, end = draw(st.sampled_from(WORKING.office_hours.intervals))
    base = datetime.combine(day, start, tzinfo=VN_TZ)
    span = datetime.combine(day, end, tzinfo=VN_TZ) - base
    offset = draw(st.integers(min_value=0, max_value=int(span.total_seconds())))
    return base + timedelta(seconds=offset)


# --- VN public holidays as provided by the holidays package -------------------------------------


def test_tet_2023_days_are_off_from_20_to_26_january() -> None:
    for day in range(20, 27):
        assert not WORKING.is_working_day(date(2023, 1, day))
    assert WORKING.is_working_day(date(2023, 1, 19))
    assert WORKING.is_working_day(date(2023, 1, 27))


def test_tet_2024_days_are_off_from_8_to_14_february() -> None:
    for day in range(8, 15):
        assert not WORKING.is_working_day(date(2024, 2, day))
    assert WORKING.is_working_day(date(2024, 2, 7))
    assert WORKING.is_working_day(date(2024, 2, 15))


def test_national_day_2023_gives_friday_1_and_monday_4_september_off() -> None:
    assert not WORKING.is_working_day(date(2023, 9, 1))
    assert not WORKING.is_working_day(date(2023, 9, 2))
    assert not WORKING.is_working_day(date(2023, 9, 4))
    assert WORKING.is_working_day(date(2023, 9, 5))


def test_swapped_day_off_2024_makes_saturday_4_may_a_working_day() -> None:
    assert not WORKING.is_working_day(date(2024, 4, 29))
    assert WORKING.is_working_day(date(2024, 5, 4))


def test_swapped_day_off_2025_makes_saturday_26_april_a_working_day() -> None:
    assert WORKING.is_working_day(date(2025, 4, 26))
    assert not WORKING.is_working_day(date(2025, 5, 2))


def test_cross_year_swap_makes_saturday_5_january_2019_a_working_day() -> None:
    assert not WORKING.is_working_day(date(2018, 12, 31))
    assert WORKING.is_working_day(date(2019, 1, 5))


def test_ordinary_weekend_is_off_and_weekdays_work() -> None:
    assert not WORKING.is_working_day(date(2023, 10, 28))
    assert not WORKING.is_working_day(date(2023, 10, 29))
    assert WORKING.is_working_day(date(2023, 10, 30))


# --- WORKING mode: worked examples --------------------------------------------------------------


def test_five_working_days_from_friday_morning_lands_next_friday_same_time() -> None:
    start = vn(2023, 10, 27, 9, 32)
    due = WORKING.deadline_after(start, 5 * HOURS_PER_DAY)
    assert due == vn(2023, 11, 3, 9, 32)
    assert due.tzinfo == VN_TZ
    assert WORKING.working_hours_between(start, due) == 40


def test_two_hours_from_16_00_crosses_to_next_working_day_08_00() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 16, 0), 2) == vn(2023, 10, 25, 8, 0)


def test_one_day_from_friday_11_00_skips_weekend_to_monday_11_00() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 20, 11, 0), 8) == vn(2023, 10, 23, 11, 0)


def test_duration_ending_at_lunch_is_due_at_11_30_not_after_lunch() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 7, 0), 4.5) == vn(2023, 10, 24, 11, 30)


def test_duration_ending_at_closing_is_due_at_17_00_not_next_morning() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 13, 30), 3.5) == vn(2023, 10, 24, 17, 0)


def test_morning_remainder_continues_after_lunch() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 11, 0), 1) == vn(2023, 10, 24, 14, 0)


def test_start_before_opening_counts_from_opening() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 6, 0), 1) == vn(2023, 10, 24, 8, 0)


def test_start_on_weekend_counts_from_monday_opening() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 28, 10, 0), 8) == vn(2023, 10, 30, 17, 0)


def test_zero_duration_inside_office_hours_returns_start() -> None:
    start = vn(2023, 10, 24, 9, 15, 42)
    assert WORKING.deadline_after(start, 0) == start


def test_zero_duration_at_interval_end_returns_interval_end() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 11, 30), 0) == vn(2023, 10, 24, 11, 30)
    assert WORKING.deadline_after(vn(2023, 10, 24, 17, 0), 0) == vn(2023, 10, 24, 17, 0)


def test_zero_duration_outside_office_hours_returns_next_opening() -> None:
    assert WORKING.deadline_after(vn(2023, 10, 24, 12, 0), 0) == vn(2023, 10, 24, 13, 30)
    assert WORKING.deadline_after(vn(2023, 10, 27, 17, 1), 0) == vn(2023, 10, 30, 7, 0)


def test_two_days_accepted_just_before_tet_2024_resume_after_tet() -> None:
    # Off Thu 8 - Wed 14 Feb 2024: Wed 7 gives 5 h, Thu 15 gives 8 h, Fri 16 the last 3 h.
    assert WORKING.deadline_after(vn(2024, 2, 7, 10, 0), 16) == vn(2024, 2, 16, 10, 0)


def test_one_day_accepted_on_eve_of_tet_2023_resumes_on_27_january() -> None:
    assert WORKING.deadline_after(vn(2023, 1, 19, 15, 0), 8) == vn(2023, 1, 27, 15, 0)


def test_long_duration_across_tet_2024_counts_only_working_days() -> None:
    start = vn(2024, 2, 1, 9, 0)
    due = WORKING.deadline_after(start, 168)
    # 21 working days from Thu 1 Feb skipping weekends and the 7-day Tết break.
    assert due == vn(2024, 3, 8, 9, 0)
    assert WORKING.working_hours_between(start, due) == 168


def test_national_day_2025_pushes_friday_afternoon_work_to_wednesday() -> None:
    assert WORKING.deadline_after(vn(2025, 8, 29, 16, 0), 2) == vn(2025, 9, 3, 8, 0)


def test_national_day_2023_long_weekend_pushes_work_to_tuesday() -> None:
    assert WORKING.deadline_after(vn(2023, 8, 31, 16, 0), 2) == vn(2023, 9, 5, 8, 0)


def test_reunification_day_2024_break_skips_to_thursday_2_may() -> None:
    assert WORKING.deadline_after(vn(2024, 4, 26, 16, 0), 2) == vn(2024, 5, 2, 8, 0)


def test_make_up_saturday_2024_receives_work() -> None:
    assert WORKING.deadline_after(vn(2024, 5, 3, 16, 0), 2) == vn(2024, 5, 4, 8, 0)


def test_override_makes_saturday_a_working_day() -> None:
    calendar = WorkingCalendar(overrides={date(2023, 10, 21): True})
    assert calendar.is_working_day(date(2023, 10, 21))
    assert calendar.deadline_after(vn(2023, 10, 20, 11, 0), 8) == vn(2023, 10, 21, 11, 0)


def test_override_makes_tuesday_a_day_off() -> None:
    calendar = WorkingCalendar(overrides={date(2023, 10, 24): False})
    assert not calendar.is_working_day(date(2023, 10, 24))
    assert calendar.deadline_after(vn(2023, 10, 23, 16, 0), 2) == vn(2023, 10, 25, 8, 0)


def test_override_can_cancel_a_public_holiday() -> None:
    calendar = WorkingCalendar(overrides={date(2024, 9, 3): True})
    assert calendar.is_working_day(date(2024, 9, 3))
    assert not calendar.is_working_day(date(2024, 9, 2))


def test_later_edits_to_override_table_do_not_affect_existing_calendar() -> None:
    table = {date(2023, 10, 24): False}
    calendar = WorkingCalendar(overrides=table)
    table[date(2023, 10, 24)] = True
    assert not calendar.is_working_day(date(2023, 10, 24))


def test_custom_office_hours_are_used() -> None:
    calendar = WorkingCalendar(office_hours=OfficeHours(((time(8, 0), time(12, 0)),)))
    assert calendar.office_hours.hours_per_day == 4
    assert calendar.deadline_after(vn(2023, 10, 24, 11, 0), 2) == vn(2023, 10, 25, 9, 0)


def test_invalid_office_hours_are_rejected() -> None:
    with pytest.raises(ValueError):
        OfficeHours(())
    with pytest.raises(ValueError):
        OfficeHours(((time(12, 0), time(8, 0)),))
    with pytest.raises(ValueError):
        OfficeHours(((time(8, 0), time(12, 0)), (time(11, 0), time(13, 0))))


def test_start_in_other_timezone_is_converted_and_result_is_local() -> None:
    start = datetime(2023, 10, 27, 2, 32, tzinfo=UTC)
    due = WORKING.deadline_after(start, 40)
    assert due == vn(2023, 11, 3, 9, 32)
    assert due.utcoffset() == timedelta(hours=7)


def test_start_seconds_are_kept_and_duration_is_rounded_to_minutes() -> None:
    start = vn(2023, 10, 24, 9, 15, 42)
    assert WORKING.deadline_after(start, 1 + 0.4 / 60) == vn(2023, 10, 24, 10, 15, 42)


def test_working_hours_between_counts_only_office_time() -> None:
    assert WORKING.working_hours_between(vn(2023, 10, 27, 16, 0), vn(2023, 10, 30, 8, 0)) == 2
    assert WORKING.working_hours_between(vn(2023, 10, 24, 11, 0), vn(2023, 10, 24, 14, 0)) == 1


def test_working_hours_between_is_zero_when_end_not_after_start() -> None:
    moment = vn(2023, 10, 24, 9, 0)
    assert WORKING.working_hours_between(moment, moment) == 0
    assert WORKING.working_hours_between(moment, moment - timedelta(days=3)) == 0


def test_working_hours_between_floors_to_whole_minutes() -> None:
    assert WORKING.working_hours_between(vn(2023, 10, 24, 9, 0), vn(2023, 10, 24, 9, 1, 59)) == 1 / 60


# --- CALENDAR_DAYS and ALWAYS modes -------------------------------------------------------------


def test_calendar_days_mode_counts_eight_hours_as_one_calendar_day() -> None:
    start = vn(2023, 10, 23, 10, 0)
    assert CALENDAR_DAYS.deadline_after(start, 3 * HOURS_PER_DAY) == vn(2023, 10, 26, 10, 0)
    assert CALENDAR_DAYS.working_hours_between(start, vn(2023, 10, 26, 10, 0)) == 24


def test_calendar_days_mode_landing_on_saturday_moves_to_monday_same_time() -> None:
    assert CALENDAR_DAYS.deadline_after(vn(2023, 10, 23, 10, 0), 5 * HOURS_PER_DAY) == vn(2023, 10, 30, 10, 0)


def test_calendar_days_mode_landing_in_tet_moves_past_tet() -> None:
    assert CALENDAR_DAYS.deadline_after(vn(2024, 2, 5, 15, 0), 3 * HOURS_PER_DAY) == vn(2024, 2, 15, 15, 0)


def test_always_mode_adds_real_hours() -> None:
    start = vn(2023, 10, 28, 23, 10, 5)
    due = ALWAYS.deadline_after(start, 1.5)
    assert due == vn(2023, 10, 29, 0, 40, 5)
    assert ALWAYS.working_hours_between(start, due) == 1.5


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("calendar", [WORKING, CALENDAR_DAYS, ALWAYS], ids=lambda c: c.mode.value)
def test_naive_datetime_raises_value_error(calendar: WorkingCalendar) -> None:
    naive = datetime(2023, 10, 27, 9, 32)
    with pytest.raises(ValueError):
        calendar.deadline_after(naive, 1)
    with pytest.raises(ValueError):
        calendar.working_hours_between(naive, vn(2023, 10, 30))
    with pytest.raises(ValueError):
        calendar.working_hours_between(vn(2023, 10, 20), naive)


@pytest.mark.parametrize("hours", [-1, -0.001, float("nan"), float("inf")])
def test_negative_or_non_finite_duration_raises_value_error(hours: float) -> None:
    with pytest.raises(ValueError):
        WORKING.deadline_after(vn(2023, 10, 27, 9, 32), hours)


# --- properties ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(start=any_start, hours=whole_minute_hours)
def test_deadline_is_always_in_office_hours_on_a_working_day(start: datetime, hours: float) -> None:
    due = WORKING.deadline_after(start, hours)
    assert due.tzinfo == VN_TZ
    assert is_office_time(WORKING, due)
    assert due >= start


@PROPERTY_SETTINGS
@given(start=office_start(), hours=whole_minute_hours)
def test_working_hours_between_inverts_deadline_after(start: datetime, hours: float) -> None:
    assert WORKING.working_hours_between(start, WORKING.deadline_after(start, hours)) == hours


@PROPERTY_SETTINGS
@given(start=office_start(), end=any_start)
def test_deadline_of_elapsed_working_time_never_passes_the_end(start: datetime, end: datetime) -> None:
    elapsed = WORKING.working_hours_between(start, end)
    if end >= start:
        assert WORKING.deadline_after(start, elapsed) <= end
        assert WORKING.deadline_after(start, elapsed + 1 / 60) > end


@PROPERTY_SETTINGS
@given(start=any_start, first=whole_minute_hours, second=whole_minute_hours)
def test_deadline_is_monotonic_in_duration(start: datetime, first: float, second: float) -> None:
    shorter, longer = sorted((first, second))
    assert WORKING.deadline_after(start, shorter) <= WORKING.deadline_after(start, longer)


@PROPERTY_SETTINGS
@given(start=any_start, hours=whole_minute_hours)
def test_calendar_days_mode_never_lands_on_a_day_off(start: datetime, hours: float) -> None:
    due = CALENDAR_DAYS.deadline_after(start, hours)
    assert CALENDAR_DAYS.is_working_day(due.date())
    assert due >= start + timedelta(minutes=round(hours * 60) * 24 // HOURS_PER_DAY)


@PROPERTY_SETTINGS
@given(start=any_start, hours=whole_minute_hours)
def test_always_mode_is_exact(start: datetime, hours: float) -> None:
    due = ALWAYS.deadline_after(start, hours)
    assert due - start == timedelta(minutes=round(hours * 60))
    assert ALWAYS.working_hours_between(start, due) == hours
