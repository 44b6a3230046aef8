"""The reports as the routes and the manager's page ask for them: the records of a period in the
caller's reach, through the arithmetic, with names beside the codes."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.reports import figures, records
from services.processing.reports.figures import Grouping, Period
from services.processing.reports.labels import Language
from services.processing.reports.schemas import (
    IndicatorGroup,
    IndicatorPublic,
    IndicatorReport,
    OnTimeReport,
    ProgressReport,
    period_public,
)
from shared.staff import Staff


async def progress_report(
    session: AsyncSession,
    *,
    actor: Staff,
    start: date,
    end: date,
    grouping: Grouping,
    language: Language,
    now: datetime,
) -> ProgressReport:
    """Biểu II.06a for the days ``start`` up to ``end`` (excluded)."""
    period = Period.of_days(start, end)
    found = await records.dossier_records(session, actor=actor, period=period)
    table = figures.progress(found, period, grouping=grouping, now=now)
    names = await records.names(session)
    return ProgressReport.of(table, names, period_public(start, end, now), language)


async def indicator_report(
    session: AsyncSession,
    *,
    actor: Staff,
    start: date,
    end: date,
    grouping: Grouping | None,
    language: Language,
    now: datetime,
) -> IndicatorReport:
    """The 766 indicators for the whole reach (``grouping`` None) or per agency, unit or procedure."""
    period = Period.of_days(start, end)
    found = await records.dossier_records(session, actor=actor, period=period)
    grouped = figures.grouped_indicators(found, period, grouping=grouping, now=now)
    names = await records.names(session)
    scope = "Phạm vi của bạn" if language == "vi" else "Your scope"
    groups = [
        IndicatorGroup(
            key=key,
            name=names.of(grouping, key) if grouping is not None else scope,
            indicators=[IndicatorPublic.of(item, language) for item in items],
        )
        for key, items in grouped.items()
    ]
    return IndicatorReport(period=period_public(start, end, now), grouping=grouping, groups=groups)


async def on_time_report(
    session: AsyncSession, *, actor: Staff, start: date, end: date, now: datetime
) -> OnTimeReport:
    """The on-time rate (2.1) of each week of the period, and the units in reach ranked by it."""
    period = Period.of_days(start, end)
    found = await records.dossier_records(session, actor=actor, period=period)
    weeks = figures.weeks(found, period, now=now)
    ranked = figures.ranking(figures.progress(found, period, grouping="unit", now=now))
    names = await records.names(session)
    return OnTimeReport.of(period_public(start, end, now), weeks, ranked, names)
