"""The report arithmetic: Biểu II.06a (the standard progress table) and the Decision 766 indicators
that motcua's own data can compute. Pure functions of plain records; no I/O.

A dossier enters the reports when it is accepted (tiếp nhận): that moment is ``received_at``. A
period is ``[start, end)``. Within it a dossier is

- *received*: accepted in the period (``online``, or ``in person or by post`` at the counter), or
  *carried over*: accepted before the period and neither resolved nor ended at its start;
- *resolved*: approved or rejected in the period, early (before the due date's day), on time (on
  that day) or late (after it, or rescheduled: an apology letter still counts as late), as
  ``clocks.timeliness`` judges it when processing resolves a dossier;
- *in progress* at the period's end, or now if that is earlier: within time, or overdue when its
  clock passed the due date (a dossier waiting for a supplement has its clock stopped where the
  supplement was asked) or it was rescheduled;
- *ended without a result*: withdrawn, or refused after its supplement deadline, in the period.

So every row holds ``received = resolved + in progress + ended``. Due dates are the ones processing
stores, which a supplement pause already moved; a past period is judged on them as they stand now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from services.processing import clocks
from shared.working_time import HOURS_PER_DAY, VN_TZ

Grouping = Literal["agency", "unit", "procedure"]


@dataclass(frozen=True)
class Period:
    """``[start, end)``, both aware instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period needs aware instants")
        if self.start >= self.end:
            raise ValueError("a period must end after it starts")

    @classmethod
    def of_days(cls, first: date, after_last: date) -> Period:
        """The days ``first`` up to ``after_last`` (excluded), midnight to midnight in Vietnam."""
        return cls(_vn_midnight(first), _vn_midnight(after_last))

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def _vn_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=VN_TZ)


@dataclass(frozen=True)
class DossierRecord:
    """What the reports need of one accepted dossier, as processing stores it."""

    code: str
    agency_code: str
    procedure_code: str
    # Every unit the dossier has had a step in (the receiving desk first).
    units: tuple[str, ...]
    channel: str  # "online" or "counter" (in person or by post)
    received_at: datetime  # accepted
    due_at: datetime
    resolved_at: datetime | None = None
    outcome: str | None = None  # "approved" or "rejected" once resolved
    # Withdrawn, or refused after acceptance (its supplement never came), or stopped.
    ended_at: datetime | None = None
    # Waiting for a supplement since then: the clock stands still.
    paused_at: datetime | None = None
    rescheduled: bool = False
    electronic_result: bool = False  # the result is a stored file, not paper only
    digitised: bool = False  # every document is held electronically
    reused: bool = False  # at least one document reused from an earlier dossier
    rating: str | None = None  # very_satisfied, satisfied or dissatisfied
    # Working hours from acceptance to resolution, supplement pauses excluded.
    resolution_hours: float | None = None

    def open_at(self, moment: datetime) -> bool:
        """Accepted before ``moment`` and neither resolved nor ended by then."""
        return (
            self.received_at < moment
            and (self.resolved_at is None or self.resolved_at >= moment)
            and (self.ended_at is None or self.ended_at >= moment)
        )

    def overdue_at(self, moment: datetime) -> bool:
        """Past its due date at ``moment`` (an open dossier), or bound to be late."""
        if self.rescheduled:
            return True
        clock = self.paused_at if self.paused_at is not None and self.paused_at <= moment else moment
        return clock > self.due_at


Timeliness = Literal["early", "on_time", "late"]


def timeliness(record: DossierRecord) -> Timeliness | None:
    if record.resolved_at is None:
        return None
    return clocks.timeliness(
        resolved_at=record.resolved_at, due_at=record.due_at, rescheduled=record.rescheduled
    )


# -- Biểu II.06a ---------------------------------------------------------------------------------
@dataclass
class Progress:
    """One row of Biểu II.06a."""

    key: str
    received_online: int = 0
    received_in_person: int = 0
    carried_over: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    within_time: int = 0
    overdue: int = 0
    ended: int = 0

    @property
    def received_new(self) -> int:
        return self.received_online + self.received_in_person

    @property
    def received(self) -> int:
        return self.received_new + self.carried_over

    @property
    def resolved(self) -> int:
        return self.early + self.on_time + self.late

    @property
    def in_progress(self) -> int:
        return self.within_time + self.overdue

    @property
    def on_time_rate(self) -> Ratio:
        """Indicator 2.1: (resolved early or on time + in progress within time) / all of them."""
        return Ratio(self.early + self.on_time + self.within_time, self.resolved + self.in_progress)

    def add(self, record: DossierRecord, period: Period, *, now: datetime) -> None:
        if period.contains(record.received_at):
            if record.channel == "online":
                self.received_online += 1
            else:
                self.received_in_person += 1
        elif record.open_at(period.start):
            self.carried_over += 1
        else:
            return  # before the period, or after it: not in this row
        if period.contains(record.resolved_at):
            judged = timeliness(record)
            self.early += judged == "early"
            self.on_time += judged == "on_time"
            self.late += judged == "late"
            return
        if period.contains(record.ended_at):
            self.ended += 1
            return
        # In progress at the period's end, judged there (or now, for a period not over yet).
        if record.overdue_at(min(period.end, now)):
            self.overdue += 1
        else:
            self.within_time += 1


def _keys(record: DossierRecord, grouping: Grouping) -> Iterable[str]:
    if grouping == "agency":
        return (record.agency_code,)
    if grouping == "procedure":
        return (record.procedure_code,)
    return record.units


@dataclass(frozen=True)
class ProgressTable:
    period: Period
    grouping: Grouping
    rows: list[Progress]
    # The whole scope, each dossier once (a dossier counts under every unit it passed through, so
    # the unit rows may add up to more).
    total: Progress


def progress(
    records: Iterable[DossierRecord], period: Period, *, grouping: Grouping, now: datetime
) -> ProgressTable:
    """Biểu II.06a for ``period``, one row per agency, unit or procedure that has anything in it."""
    rows: dict[str, Progress] = {}
    total = Progress(key="")
    for record in records:
        total.add(record, period, now=now)
        for key in _keys(record, grouping):
            rows.setdefault(key, Progress(key=key)).add(record, period, now=now)
    kept = [row for _key, row in sorted(rows.items()) if row.received]
    return ProgressTable(period=period, grouping=grouping, rows=kept, total=total)


# -- the 766 indicators ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    numerator: float
    denominator: float

    @property
    def value(self) -> float | None:
        """``numerator / denominator``; ``None`` (N/A) when there is nothing to divide by."""
        return None if not self.denominator else self.numerator / self.denominator


@dataclass(frozen=True)
class Indicator:
    code: str  # "2.1", "3.3", …, "satisfaction"
    ratio: Ratio
    # "percent": the value times 100; "days": the value as is (working days).
    unit: Literal["percent", "days"] = "percent"

    @property
    def value(self) -> float | None:
        value = self.ratio.value
        if value is None:
            return None
        return round(value * 100, 2) if self.unit == "percent" else round(value, 2)


INDICATOR_CODES = ("2.1", "2.2", "3.3", "4.1", "4.2", "4.3", "satisfaction")
SATISFIED = frozenset({"very_satisfied", "satisfied"})


@dataclass
class _Counts:
    received: int = 0
    online: int = 0
    digitised: int = 0
    reused: int = 0
    approved: int = 0
    electronic: int = 0
    resolved_hours: float = 0.0
    resolved_timed: int = 0
    rated: int = 0
    satisfied: int = 0


def indicators(records: Iterable[DossierRecord], period: Period, *, now: datetime) -> list[Indicator]:
    """The indicators of ``records`` over ``period``, each with its numerator and denominator.

    - 2.1 on-time rate: as ``Progress.on_time_rate``;
    - 2.2 average resolution time: working days from acceptance to resolution, pauses excluded,
      over the dossiers resolved in the period;
    - 3.3 online share, 4.2 digitised share, 4.3 share reusing documents: of the dossiers received
      in the period;
    - 4.1 share with an electronic result: of the dossiers approved in the period;
    - satisfaction: very satisfied or satisfied, of the dossiers resolved in the period and rated.
    """
    table = Progress(key="")
    counts = _Counts()
    for record in records:
        table.add(record, period, now=now)
        if period.contains(record.received_at):
            counts.received += 1
            counts.online += record.channel == "online"
            counts.digitised += record.digitised
            counts.reused += record.reused
        if period.contains(record.resolved_at):
            if record.outcome == "approved":
                counts.approved += 1
                counts.electronic += record.electronic_result
            if record.resolution_hours is not None:
                counts.resolved_timed += 1
                counts.resolved_hours += record.resolution_hours
            if record.rating is not None:
                counts.rated += 1
                counts.satisfied += record.rating in SATISFIED
    return [
        Indicator("2.1", table.on_time_rate),
        Indicator(
            "2.2", Ratio(round(counts.resolved_hours / HOURS_PER_DAY, 4), counts.resolved_timed), "days"
        ),
        Indicator("3.3", Ratio(counts.online, counts.received)),
        Indicator("4.1", Ratio(counts.electronic, counts.approved)),
        Indicator("4.2", Ratio(counts.digitised, counts.received)),
        Indicator("4.3", Ratio(counts.reused, counts.received)),
        Indicator("satisfaction", Ratio(counts.satisfied, counts.rated)),
    ]


def grouped_indicators(
    records: Iterable[DossierRecord], period: Period, *, grouping: Grouping | None, now: datetime
) -> dict[str, list[Indicator]]:
    """``indicators`` for the whole scope (key ``""``) or for each agency, unit or procedure."""
    kept = list(records)
    if grouping is None:
        return {"": indicators(kept, period, now=now)}
    groups: dict[str, list[DossierRecord]] = defaultdict(list)
    for record in kept:
        for key in _keys(record, grouping):
            groups[key].append(record)
    return {key: indicators(groups[key], period, now=now) for key in sorted(groups)}


# -- the on-time rate by week, and the units ranked ------------------------------------------------
@dataclass(frozen=True)
class Week:
    """A week (Monday to Sunday, Vietnam's calendar) cut to the period, with its 2.1 figures."""

    first_day: date
    period: Period
    rate: Ratio


def weeks(records: Sequence[DossierRecord], period: Period, *, now: datetime) -> list[Week]:
    """The on-time rate (2.1) of each week the period touches, up to now; the first and last weeks
    are cut to the period."""
    first = period.start.astimezone(VN_TZ).date()
    first_monday = first - timedelta(days=first.weekday())
    spans: list[tuple[date, Period]] = []
    monday = first_monday
    while (start := max(_vn_midnight(monday), period.start)) < min(period.end, now):
        spans.append((monday, Period(start, min(_vn_midnight(monday + timedelta(days=7)), period.end))))
        monday += timedelta(days=7)
    rows = [Progress(key=monday.isoformat()) for monday, _span in spans]

    def index(moment: datetime) -> int:
        return (moment.astimezone(VN_TZ).date() - first_monday).days // 7

    # A dossier matters to the weeks from its receipt (or the period's start) to the end of its
    # processing (or the last week), and to no other: it is added to those alone.
    for record in records:
        finished = [moment for moment in (record.resolved_at, record.ended_at) if moment is not None]
        last = len(spans) - 1 if not finished else min(index(min(finished)), len(spans) - 1)
        for position in range(max(index(record.received_at), 0), last + 1):
            rows[position].add(record, spans[position][1], now=now)
    return [
        Week(first_day=monday, period=span, rate=row.on_time_rate)
        for (monday, span), row in zip(spans, rows, strict=True)
    ]


@dataclass(frozen=True)
class Ranked:
    key: str
    rate: Ratio
    row: Progress = field(repr=False)


def ranking(table: ProgressTable) -> list[Ranked]:
    """The table's rows by on-time rate (2.1), best first; more dossiers first among equals, and
    rows with nothing to rate (N/A) last."""

    def order(row: Progress) -> tuple[bool, float, float, str]:
        rate = row.on_time_rate
        return (rate.value is None, -(rate.value or 0.0), -rate.denominator, row.key)

    return [Ranked(row.key, row.on_time_rate, row) for row in sorted(table.rows, key=order)]
