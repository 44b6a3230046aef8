"""The reports over HTTP (bearer JWT, any member of staff, within their reach): Biểu II.06a, the
766 indicators, and the on-time rate by week with the units ranked, as JSON, CSV, XLSX or SVG.

A period is given by days in Vietnam: ``from`` is its first day, ``to`` the day after its last (the
current month when both are left out).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.processing.auth import ActorDep
from services.processing.reports import chart, downloads, service
from services.processing.reports.downloads import MEDIA_TYPES, FileFormat
from services.processing.reports.figures import Grouping
from services.processing.reports.labels import Language
from services.processing.reports.schemas import IndicatorReport, OnTimeReport, ProgressReport
from shared.errors import Invalid
from shared.events import utc_now
from shared.http import SessionDep
from shared.working_time import VN_TZ

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

# A report covers at most a year (a leap year's days), and starts no earlier than this: older dates
# hold no dossier, and a date near year 1 has no instant in UTC.
LONGEST = timedelta(days=366)
EARLIEST = date(2000, 1, 1)

From = Annotated[
    date | None, Query(alias="from", description="the period's first day (YYYY-MM-DD, Vietnam time)")
]
To = Annotated[date | None, Query(alias="to", description="the day after the period's last day")]
Lang = Annotated[Language, Query(alias="lang", description="vi (default) or en, for names and files")]
Format = Annotated[Literal["json", "csv", "xlsx"], Query(alias="format", description="json, csv or xlsx")]


def period_days(start: date | None, end: date | None, *, now: datetime) -> tuple[date, date]:
    """The period asked for, checked. Without either day, the current month; with ``from`` only, up
    to today; with ``to`` only, from the first day of the month of its last day."""
    today = now.astimezone(VN_TZ).date()
    # The days given are checked before any is derived from them: a day next to date.min or
    # date.max has no neighbour to derive.
    if start is not None:
        _check_start(start, today)
    if end is not None and end <= EARLIEST:
        raise Invalid(f"to must be after {EARLIEST.isoformat()}", loc=("query", "to"))
    if start is None and end is None:
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    elif start is None:
        assert end is not None
        start = (end - timedelta(days=1)).replace(day=1)  # the month of the last day
        if start > today:
            raise Invalid(
                "to leaves no day of its month in the past: a report counts what has happened",
                loc=("query", "to"),
            )
    elif end is None:
        end = today + timedelta(days=1)  # up to now
    if end <= start:
        raise Invalid(
            "to must be after from (to is the day after the period's last day)", loc=("query", "to")
        )
    if end - start > LONGEST:
        raise Invalid(f"a report covers at most {LONGEST.days} days", loc=("query", "to"))
    return start, end


def _check_start(start: date, today: date) -> None:
    if start < EARLIEST:
        raise Invalid(f"from must be {EARLIEST.isoformat()} or later", loc=("query", "from"))
    if start > today:
        raise Invalid(
            "from must not be after today: a report counts what has happened", loc=("query", "from")
        )


def _file(content: bytes, *, kind: str, start: date, end: date, file_format: FileFormat) -> Response:
    name = downloads.filename(kind, start, end, file_format)
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


_FILES = {
    200: {
        "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}},
        "description": "JSON, or a file with format=csv or format=xlsx",
    }
}


@router.get("/progress", response_model=ProgressReport, responses=_FILES)  # type: ignore[arg-type]
async def progress(
    session: SessionDep,
    actor: ActorDep,
    start: From = None,
    end: To = None,
    grouping: Annotated[Grouping, Query(alias="group", description="agency, unit or procedure")] = "agency",
    file_format: Format = "json",
    language: Lang = "vi",
) -> ProgressReport | Response:
    """Biểu II.06a: received (online, in person or by post, carried over), resolved (early, on time,
    late) and in progress (within time, overdue), per agency, unit or procedure. A dossier counts
    under every unit it had a step in."""
    now = utc_now()
    start, end = period_days(start, end, now=now)
    report = await service.progress_report(
        session, actor=actor, start=start, end=end, grouping=grouping, language=language, now=now
    )
    if file_format == "json":
        return report
    sheet = downloads.progress_sheet(report, language)
    content = downloads.download(sheet, file_format)
    return _file(content, kind="bieu-II.06a", start=start, end=end, file_format=file_format)


@router.get("/indicators", response_model=IndicatorReport, responses=_FILES)  # type: ignore[arg-type]
async def indicators(
    session: SessionDep,
    actor: ActorDep,
    start: From = None,
    end: To = None,
    grouping: Annotated[
        Grouping | None,
        Query(alias="group", description="agency, unit or procedure; the whole reach if left out"),
    ] = None,
    file_format: Format = "json",
    language: Lang = "vi",
) -> IndicatorReport | Response:
    """The Decision 766 indicators motcua computes (2.1, 2.2, 3.3, 4.1, 4.2, 4.3, satisfaction),
    each with its numerator and denominator; the value is null (N/A) when the denominator is 0."""
    now = utc_now()
    start, end = period_days(start, end, now=now)
    report = await service.indicator_report(
        session, actor=actor, start=start, end=end, grouping=grouping, language=language, now=now
    )
    if file_format == "json":
        return report
    sheet = downloads.indicators_sheet(report, language)
    content = downloads.download(sheet, file_format)
    return _file(content, kind="chi-so-766", start=start, end=end, file_format=file_format)


@router.get("/on-time")
async def on_time(session: SessionDep, actor: ActorDep, start: From = None, end: To = None) -> OnTimeReport:
    """The on-time rate (2.1) of each week of the period, and the units in reach ranked by it."""
    now = utc_now()
    start, end = period_days(start, end, now=now)
    return await service.on_time_report(session, actor=actor, start=start, end=end, now=now)


@router.get("/on-time.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
async def on_time_svg(
    session: SessionDep,
    actor: ActorDep,
    start: From = None,
    end: To = None,
    drawing: Annotated[
        Literal["weeks", "ranking"], Query(alias="chart", description="weeks (default) or ranking")
    ] = "weeks",
    language: Lang = "vi",
) -> Response:
    """``/on-time`` drawn: the rate by week, or the units ranked (``chart=ranking``)."""
    now = utc_now()
    start, end = period_days(start, end, now=now)
    report = await service.on_time_report(session, actor=actor, start=start, end=end, now=now)
    if drawing == "weeks":
        svg = chart.on_time_svg(report.weeks, language)
    else:
        svg = chart.ranking_svg(report.ranking, language)
    return Response(str(svg), media_type="image/svg+xml")
