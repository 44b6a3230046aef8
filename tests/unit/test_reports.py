"""The report arithmetic on a hand-built set of dossiers whose outcomes are known: Biểu II.06a's
columns, the 766 indicators, the weeks and the ranking (``services.processing.reports.figures``).

Every moment is written as Vietnam reads it. The period is November 2026; the figures are read on
7 December, after it ended."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.processing.reports import figures
from services.processing.reports.figures import DossierRecord, Period
from shared.working_time import VN_TZ

NOVEMBER = Period.of_days(date(2026, 11, 1), date(2026, 12, 1))
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=VN_TZ)


def vn(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


def dossier(code: str, received: datetime, due: datetime, **changes: object) -> DossierRecord:
    base = DossierRecord(
        code=code,
        agency_code="H56",
        procedure_code="1.001193",
        units=("DESK", "CIVIL"),
        channel="online",
        received_at=received,
        due_at=due,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# The set: each dossier's place in November's Biểu II.06a is in its comment.
EARLY = dossier("early", vn(11, 2), vn(11, 6), resolved_at=vn(11, 5, 10), outcome="approved")
ON_TIME = dossier(
    "on-time", vn(11, 3), vn(11, 10), resolved_at=vn(11, 10, 8), outcome="approved", channel="counter"
)
AT_DUE = dossier("at-due", vn(11, 3), vn(11, 11, 14), resolved_at=vn(11, 11, 14), outcome="rejected")
LATE = dossier("late", vn(11, 4), vn(11, 9), resolved_at=vn(11, 12), outcome="approved")
# Resolved before its new appointment, but an apology letter was issued: late all the same.
RESCHEDULED = dossier(
    "rescheduled", vn(11, 4), vn(11, 20), resolved_at=vn(11, 18), outcome="approved", rescheduled=True
)
# A supplement was asked 10–13 November: processing moved the due date from 16 to 19 November.
RESUMED = dossier("resumed", vn(11, 5), vn(11, 19), resolved_at=vn(11, 18), outcome="approved")
# Waiting for a supplement since 20 November, due 25 November: its clock stands still, within time.
WAITING = dossier("waiting", vn(11, 16), vn(11, 25), paused_at=vn(11, 20), channel="counter")
# Carried over from October and resolved in November, late.
CARRIED_RESOLVED = dossier(
    "carried-resolved", vn(10, 20), vn(10, 30), resolved_at=vn(11, 3), outcome="approved"
)
# Carried over and still open at November's end, within time.
CARRIED_OPEN = dossier("carried-open", vn(10, 25), vn(12, 10))
OVERDUE = dossier("overdue", vn(11, 10), vn(11, 20))
# Resolved after November, before the figures are read: in progress, and overdue, at November's end.
RESOLVED_AFTER = dossier("resolved-after", vn(11, 25), vn(11, 28), resolved_at=vn(12, 3), outcome="approved")
WITHDRAWN = dossier("withdrawn", vn(11, 6), vn(11, 20), ended_at=vn(11, 8))
# Outside November altogether.
BEFORE = dossier("before", vn(10, 1), vn(10, 9), resolved_at=vn(10, 8), outcome="approved")
AFTER = dossier("after", vn(12, 2), vn(12, 9))

ALL = [
    EARLY,
    ON_TIME,
    AT_DUE,
    LATE,
    RESCHEDULED,
    RESUMED,
    WAITING,
    CARRIED_RESOLVED,
    CARRIED_OPEN,
    OVERDUE,
    RESOLVED_AFTER,
    WITHDRAWN,
    BEFORE,
    AFTER,
]


def november(
    records: list[DossierRecord] = ALL, grouping: figures.Grouping = "agency"
) -> figures.ProgressTable:
    return figures.progress(records, NOVEMBER, grouping=grouping, now=NOW)


def test_the_progress_table_puts_each_known_dossier_in_its_column() -> None:
    row = november().total
    assert (row.received_online, row.received_in_person, row.carried_over) == (8, 2, 2)
    assert (row.early, row.on_time, row.late) == (2, 2, 3)
    assert (row.within_time, row.overdue) == (2, 2)
    assert row.ended == 1


def test_what_was_received_is_resolved_in_progress_or_ended() -> None:
    row = november().total
    assert row.received == 12
    assert row.received == row.resolved + row.in_progress + row.ended


def test_a_dossier_resolved_exactly_at_its_due_moment_is_on_time() -> None:
    row = november([AT_DUE]).total
    assert (row.early, row.on_time, row.late) == (0, 1, 0)
    one_minute_later = replace(AT_DUE, resolved_at=vn(11, 11, 14, 1))
    assert november([one_minute_later]).total.late == 1


def test_resolved_before_the_due_day_is_early_and_on_it_on_time() -> None:
    assert november([EARLY]).total.early == 1
    assert november([ON_TIME]).total.on_time == 1


def test_an_apology_letter_leaves_the_dossier_late() -> None:
    assert november([RESCHEDULED]).total.late == 1
    assert november([replace(RESCHEDULED, rescheduled=False)]).total.early == 1


def test_a_supplement_pause_stops_the_clock_at_the_period_end() -> None:
    assert november([WAITING]).total.within_time == 1
    # The same dossier without the pause: its due date passed before November ended.
    assert november([replace(WAITING, paused_at=None)]).total.overdue == 1


def test_a_pause_asked_after_the_due_date_leaves_the_dossier_overdue() -> None:
    late_pause = replace(WAITING, paused_at=vn(11, 26))
    assert november([late_pause]).total.overdue == 1


def test_a_due_date_a_supplement_moved_judges_the_resolution() -> None:
    # Without the move (due 16 November) resolving on the 18th would be late.
    assert november([RESUMED]).total.early == 1


def test_a_dossier_open_at_the_start_is_carried_over() -> None:
    carried = november([CARRIED_RESOLVED, CARRIED_OPEN]).total
    assert (carried.carried_over, carried.received_new) == (2, 0)
    assert (carried.late, carried.within_time) == (1, 1)
    assert november([BEFORE, AFTER]).total.received == 0


def test_a_dossier_resolved_after_the_period_was_in_progress_at_its_end() -> None:
    row = november([RESOLVED_AFTER]).total
    assert (row.resolved, row.overdue) == (0, 1)


def test_a_period_not_over_yet_judges_what_is_open_now() -> None:
    due_later = dossier("due-later", vn(11, 10), vn(11, 24))
    running = Period.of_days(date(2026, 11, 1), date(2026, 12, 1))
    before_due = figures.progress([due_later], running, grouping="agency", now=vn(11, 20))
    assert before_due.total.within_time == 1
    after_due = figures.progress([due_later], running, grouping="agency", now=vn(11, 25))
    assert after_due.total.overdue == 1


def test_the_period_runs_from_midnight_to_midnight_in_vietnam() -> None:
    # 23:30 on 31 October in Vietnam is 16:30 UTC: October. 00:10 on 1 November is 17:10 UTC on
    # 31 October: November.
    last_october = dossier("oct", vn(10, 31, 23, 30), vn(11, 20))
    first_november = dossier("nov", vn(11, 1, 0, 10), vn(11, 20))
    assert first_november.received_at.astimezone(UTC).month == 10
    row = november([last_october, first_november]).total
    assert (row.carried_over, row.received_new) == (1, 1)
    assert NOVEMBER.start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)


def test_the_due_day_is_vietnams_day_not_utcs() -> None:
    # Resolved at 00:30 on 10 November in Vietnam (9 November in UTC), due at 16:00 that day.
    shortly_after_midnight = dossier("midnight", vn(11, 3), vn(11, 10, 16), resolved_at=vn(11, 10, 0, 30))
    assert november([shortly_after_midnight]).total.on_time == 1


def test_an_empty_period_has_zeros_and_no_rate() -> None:
    table = november([])
    assert table.rows == []
    assert table.total.received == 0
    assert table.total.on_time_rate.value is None


def test_a_dossier_counts_under_every_unit_it_passed_through_and_once_in_the_total() -> None:
    civil_only = replace(EARLY, code="civil", units=("CIVIL",))
    table = november([EARLY, civil_only], grouping="unit")
    assert {row.key: row.received for row in table.rows} == {"CIVIL": 2, "DESK": 1}
    assert table.total.received == 2


def test_rows_group_by_agency_and_procedure() -> None:
    other = replace(LATE, agency_code="H57", procedure_code="2.000001")
    by_agency = november([EARLY, other])
    assert [(row.key, row.early, row.late) for row in by_agency.rows] == [("H56", 1, 0), ("H57", 0, 1)]
    by_procedure = november([EARLY, other], grouping="procedure")
    assert [row.key for row in by_procedure.rows] == ["1.001193", "2.000001"]


# -- the 766 indicators ---------------------------------------------------------------------------
def indicators(records: list[DossierRecord]) -> dict[str, figures.Indicator]:
    return {item.code: item for item in figures.indicators(records, NOVEMBER, now=NOW)}


def test_the_on_time_rate_counts_early_on_time_and_within_time_over_resolved_and_in_progress() -> None:
    rate = indicators(ALL)["2.1"]
    # early 2 + on time 2 + within time 2, over resolved 7 + in progress 4.
    assert (rate.ratio.numerator, rate.ratio.denominator) == (6, 11)
    assert rate.value == pytest.approx(54.55)


def test_the_average_resolution_time_is_in_working_days() -> None:
    quick = replace(EARLY, resolution_hours=12.0)
    slow = replace(LATE, resolution_hours=36.0)
    average = indicators([quick, slow, replace(CARRIED_OPEN, resolution_hours=None)])["2.2"]
    assert (average.ratio.numerator, average.ratio.denominator) == (6.0, 2)
    assert (average.value, average.unit) == (3.0, "days")


def test_shares_of_what_was_received_in_the_period() -> None:
    received = [
        replace(EARLY, digitised=True, reused=True),
        replace(ON_TIME, digitised=True),  # at the counter
        replace(LATE, reused=False),
        replace(CARRIED_OPEN, digitised=True, reused=True),  # carried over: not in these shares
    ]
    found = indicators(received)
    assert (found["3.3"].ratio.numerator, found["3.3"].ratio.denominator) == (2, 3)
    assert (found["4.2"].ratio.numerator, found["4.2"].ratio.denominator) == (2, 3)
    assert (found["4.3"].ratio.numerator, found["4.3"].ratio.denominator) == (1, 3)


def test_the_electronic_result_share_is_of_the_dossiers_approved() -> None:
    found = indicators([replace(EARLY, electronic_result=True), LATE, AT_DUE])  # AT_DUE was rejected
    assert (found["4.1"].ratio.numerator, found["4.1"].ratio.denominator) == (1, 2)
    assert found["4.1"].value == 50.0


def test_satisfaction_counts_the_satisfied_among_the_ratings() -> None:
    rated = [
        replace(EARLY, rating="very_satisfied"),
        replace(ON_TIME, rating="satisfied"),
        replace(LATE, rating="dissatisfied"),
        AT_DUE,
    ]
    found = indicators(rated)["satisfaction"]
    assert (found.ratio.numerator, found.ratio.denominator) == (2, 3)


def test_an_indicator_with_nothing_to_divide_by_is_not_available() -> None:
    found = indicators([])
    assert [item.code for item in found.values()] == list(figures.INDICATOR_CODES)
    assert all(item.value is None and item.ratio.denominator == 0 for item in found.values())
    # Approved dossiers exist, none rated: the electronic share is 0 %, satisfaction N/A.
    some = indicators([EARLY])
    assert some["4.1"].value == 0.0
    assert some["satisfaction"].value is None


def test_indicators_group_like_the_table() -> None:
    grouped = figures.grouped_indicators(
        [EARLY, replace(LATE, procedure_code="2.000001")], NOVEMBER, grouping="procedure", now=NOW
    )
    assert list(grouped) == ["1.001193", "2.000001"]
    assert figures.grouped_indicators([EARLY], NOVEMBER, grouping=None, now=NOW).keys() == {""}


# -- weeks and ranking ------------------------------------------------------------------------------
def test_the_weeks_run_monday_to_sunday_cut_to_the_period() -> None:
    weeks = figures.weeks(ALL, NOVEMBER, now=NOW)
    # 1 November 2026 is a Sunday: its week starts on 26 October and holds one day of November.
    assert [week.first_day for week in weeks][:2] == [date(2026, 10, 26), date(2026, 11, 2)]
    assert weeks[0].period.start == NOVEMBER.start
    assert weeks[-1].first_day == date(2026, 11, 30)
    assert weeks[-1].period.end == NOVEMBER.end
    assert len(weeks) == 6


def test_a_weeks_rate_is_the_on_time_rate_of_that_week() -> None:
    weeks = {week.first_day: week for week in figures.weeks([EARLY, LATE], NOVEMBER, now=NOW)}
    # Week of 2 November: EARLY resolved early on the 5th; LATE, due on the 9th at 09:00, is still
    # within time when the week ends at midnight.
    first = weeks[date(2026, 11, 2)].rate
    assert (first.numerator, first.denominator) == (2, 2)
    # Week of 9 November: LATE resolved late on the 12th.
    second = weeks[date(2026, 11, 9)].rate
    assert (second.numerator, second.denominator) == (0, 1)


def test_weeks_stop_at_now() -> None:
    weeks = figures.weeks(ALL, NOVEMBER, now=vn(11, 12))
    assert weeks[-1].first_day == date(2026, 11, 9)


def test_units_rank_by_on_time_rate_with_nothing_to_rate_last() -> None:
    good = replace(EARLY, units=("GOOD",))
    bad = replace(LATE, units=("BAD",))
    empty = replace(WITHDRAWN, units=("EMPTY",))
    busier_good = [replace(ON_TIME, code=f"busy-{n}", units=("BUSY",)) for n in range(2)]
    table = november([good, bad, empty, *busier_good], grouping="unit")
    assert [item.key for item in figures.ranking(table)] == ["BUSY", "GOOD", "BAD", "EMPTY"]
    assert figures.ranking(table)[-1].rate.value is None


def test_a_period_must_end_after_it_starts_on_aware_instants() -> None:
    with pytest.raises(ValueError, match="end after"):
        Period.of_days(date(2026, 11, 2), date(2026, 11, 2))
    with pytest.raises(ValueError, match="aware"):
        Period(datetime(2026, 11, 1), datetime(2026, 11, 2))


def test_each_weeks_figures_are_the_tables_figures_for_that_week() -> None:
    # The weeks add a dossier to the weeks it lived in only: the same as a table of each week.
    for now in (NOW, vn(11, 12), vn(11, 30, 23, 59)):
        for week in figures.weeks(ALL, NOVEMBER, now=now):
            whole = figures.progress(ALL, week.period, grouping="agency", now=now).total.on_time_rate
            assert week.rate == whole, week.first_day
