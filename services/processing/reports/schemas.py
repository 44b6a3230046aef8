"""What the report routes answer with in JSON: the figures, with names beside the codes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from services.processing.reports.figures import Indicator, Progress, ProgressTable, Ranked, Ratio, Week
from services.processing.reports.labels import INDICATORS, TITLES, Language
from services.processing.reports.records import Names
from shared.working_time import VN_TZ


class RatioPublic(BaseModel):
    numerator: float
    denominator: float
    # Per cent; ``None`` (N/A) when the denominator is 0.
    percent: float | None

    @classmethod
    def of(cls, ratio: Ratio) -> RatioPublic:
        value = ratio.value
        return cls(
            numerator=ratio.numerator,
            denominator=ratio.denominator,
            percent=None if value is None else round(value * 100, 2),
        )


class Received(BaseModel):
    total: int
    online: int
    in_person_or_post: int
    carried_over: int


class Resolved(BaseModel):
    total: int
    early: int
    on_time: int
    late: int


class InProgress(BaseModel):
    total: int
    within_time: int
    overdue: int


class ProgressRow(BaseModel):
    key: str = Field(description="the agency, unit or procedure code; empty for the total")
    name: str
    received: Received
    resolved: Resolved
    in_progress: InProgress
    ended_without_result: int = Field(description="withdrawn, refused after acceptance, or stopped")
    on_time_rate: RatioPublic

    @classmethod
    def of(cls, row: Progress, name: str) -> ProgressRow:
        return cls(
            key=row.key,
            name=name,
            received=Received(
                total=row.received,
                online=row.received_online,
                in_person_or_post=row.received_in_person,
                carried_over=row.carried_over,
            ),
            resolved=Resolved(total=row.resolved, early=row.early, on_time=row.on_time, late=row.late),
            in_progress=InProgress(total=row.in_progress, within_time=row.within_time, overdue=row.overdue),
            ended_without_result=row.ended,
            on_time_rate=RatioPublic.of(row.on_time_rate),
        )


class PeriodPublic(BaseModel):
    start: date = Field(description="the first day")
    end: date = Field(description="the day after the last one")
    as_of: datetime = Field(
        description="when the figures were read; in progress is judged here or at the end"
    )


def period_public(start: date, end: date, now: datetime) -> PeriodPublic:
    return PeriodPublic(start=start, end=end, as_of=now.astimezone(VN_TZ))


class ProgressReport(BaseModel):
    """Biểu II.06a."""

    period: PeriodPublic
    grouping: str
    rows: list[ProgressRow]
    total: ProgressRow

    @classmethod
    def of(
        cls, table: ProgressTable, names: Names, period: PeriodPublic, language: Language
    ) -> ProgressReport:
        total_name = TITLES["total"][language]
        return cls(
            period=period,
            grouping=table.grouping,
            rows=[ProgressRow.of(row, names.of(table.grouping, row.key)) for row in table.rows],
            total=ProgressRow.of(table.total, total_name),
        )


class IndicatorPublic(BaseModel):
    code: str
    name: str
    numerator: float
    denominator: float
    value: float | None = Field(
        description="per cent, or working days for 2.2; null (N/A) when the denominator is 0"
    )
    unit: str

    @classmethod
    def of(cls, indicator: Indicator, language: Language) -> IndicatorPublic:
        return cls(
            code=indicator.code,
            name=INDICATORS[indicator.code][language],
            numerator=indicator.ratio.numerator,
            denominator=indicator.ratio.denominator,
            value=indicator.value,
            unit=indicator.unit,
        )


class IndicatorGroup(BaseModel):
    key: str
    name: str
    indicators: list[IndicatorPublic]


class IndicatorReport(BaseModel):
    period: PeriodPublic
    grouping: str | None
    groups: list[IndicatorGroup]


class WeekPublic(BaseModel):
    first_day: date = Field(description="the week's Monday")
    start: date
    end: date = Field(description="the day after the week's last day within the period")
    on_time_rate: RatioPublic

    @classmethod
    def of(cls, week: Week) -> WeekPublic:
        return cls(
            first_day=week.first_day,
            start=week.period.start.astimezone(VN_TZ).date(),
            end=_day_of_end(week.period.end),
            on_time_rate=RatioPublic.of(week.rate),
        )


def _day_of_end(end: datetime) -> date:
    local = end.astimezone(VN_TZ)
    return local.date() if local.time() == datetime.min.time() else local.date() + timedelta(days=1)


class RankedUnit(BaseModel):
    rank: int
    key: str
    name: str
    on_time_rate: RatioPublic


class OnTimeReport(BaseModel):
    """The on-time rate (2.1) by week, and the units ranked by it over the period."""

    period: PeriodPublic
    weeks: list[WeekPublic]
    ranking: list[RankedUnit]

    @classmethod
    def of(cls, period: PeriodPublic, weeks: list[Week], ranked: list[Ranked], names: Names) -> OnTimeReport:
        return cls(
            period=period,
            weeks=[WeekPublic.of(week) for week in weeks],
            ranking=[
                RankedUnit(
                    rank=index,
                    key=item.key,
                    name=names.of("unit", item.key),
                    on_time_rate=RatioPublic.of(item.rate),
                )
                for index, item in enumerate(ranked, start=1)
            ],
        )
