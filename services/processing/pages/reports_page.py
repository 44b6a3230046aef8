"""The reports page (báo cáo) for signed-in staff: a period and a grouping picked in a GET form
(nothing personal travels in it), Biểu II.06a as a table, the 766 indicators with their numerator
and denominator, the on-time rate by week and the units ranked (SVG with their tables), and the
CSV and XLSX files.

The page reads through ``reports.service``, as ``GET /api/v1/reports/…`` does, and checks the
period with the API's own ``period_days``; its files are served here, under the session cookie
(or a bearer token, as every page), so that the API keeps to bearer tokens. A member of staff sees
what the API would show them: the dossiers their own scope worked on.

The page's period is inclusive, as a person reads one: ``from`` is the first day, ``until`` the
last (the API's ``to`` is the day after the last).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from services.processing.reports import chart, downloads, service
from services.processing.reports.api import period_days
from services.processing.reports.downloads import MEDIA_TYPES, FileFormat
from services.processing.reports.figures import Grouping
from services.processing.reports.labels import (
    GROUPINGS,
    INDICATOR_HEADINGS,
    INDICATOR_TERMS,
    PROGRESS_COLUMNS,
    TITLES,
    Language,
    percent_text,
)
from services.processing.reports.schemas import IndicatorPublic
from services.processing.sign_in.web import PageStaffDep, render_page, say
from shared.errors import Invalid
from shared.events import utc_now
from shared.http import SessionDep
from shared.pages import reader_language

router = APIRouter(tags=["pages"])

GROUPS: tuple[Grouping, ...] = ("agency", "unit", "procedure")
FromDay = Annotated[str, Query(alias="from", max_length=10, description="the first day, YYYY-MM-DD")]
UntilDay = Annotated[str, Query(alias="until", max_length=10, description="the last day, YYYY-MM-DD")]
Group = Annotated[str, Query(max_length=20, description="agency (the default), unit or procedure")]
Kind = Literal["bieu-II.06a", "chi-so-766"]


class PeriodProblems(Exception):
    """The form's days do not make a period: a message key per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _day(text: str, field: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise PeriodProblems({field: "reports.day_format"}) from exc


def chosen_period(start_text: str, until_text: str) -> tuple[date, date]:
    """The first day and the day after the last, checked as the API checks them."""
    start = _day(start_text, "from")
    until = _day(until_text, "until")
    # The last day of the calendar has no day after it: it is refused as a day in the future.
    end = None if until is None else until + timedelta(days=1) if until < date.max else until
    try:
        return period_days(start, end, now=utc_now())
    except Invalid as exc:
        field = "from" if exc.loc and exc.loc[-1] == "from" else "until"
        raise PeriodProblems({field: f"reports.{field}_invalid"}) from exc


def _grouping(value: str) -> Grouping:
    for grouping in GROUPS:
        if value == grouping:
            return grouping
    return "agency"


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    session: SessionDep,
    me: PageStaffDep,
    start_text: FromDay = "",
    until_text: UntilDay = "",
    group: Group = "agency",
) -> Response:
    """Biểu II.06a, the 766 indicators and the on-time charts of a period, with their files."""
    grouping = _grouping(group)
    language = reader_language(request)
    values = {"from": start_text, "until": until_text}
    try:
        start, end = chosen_period(start_text, until_text)
    except PeriodProblems as exc:
        errors = {field: say(request, key) for field, key in exc.errors.items()}
        return render_page(
            request,
            "reports.html.j2",
            status_code=422,
            errors=errors,
            values=values,
            grouping=grouping,
            groupings=_grouping_names(language),
            report=None,
        )
    now = utc_now()
    progress = await service.progress_report(
        session, actor=me.staff, start=start, end=end, grouping=grouping, language=language, now=now
    )
    indicators = await service.indicator_report(
        session, actor=me.staff, start=start, end=end, grouping=None, language=language, now=now
    )
    on_time = await service.on_time_report(session, actor=me.staff, start=start, end=end, now=now)
    last = end - timedelta(days=1)
    query = {"from": start.isoformat(), "until": last.isoformat(), "group": grouping}
    files = {
        kind: {
            file_format: f"/reports/{kind}.{file_format}?{urlencode(query)}"
            for file_format in ("csv", "xlsx")
        }
        for kind in ("bieu-II.06a", "chi-so-766")
    }
    return render_page(
        request,
        "reports.html.j2",
        errors={},
        values={"from": start.isoformat(), "until": last.isoformat()},
        grouping=grouping,
        groupings=_grouping_names(language),
        report=progress,
        period=downloads.period_text(start, end, language),
        columns=[(key, label[language]) for key, label in PROGRESS_COLUMNS],
        indicators=[
            _indicator_row(item, language) for group in indicators.groups for item in group.indicators
        ],
        headings={key: label[language] for key, label in INDICATOR_HEADINGS.items()},
        percent=lambda value: percent_text(value, language),
        weeks_chart=chart.on_time_svg(on_time.weeks, language),
        weeks_table=chart.on_time_table(on_time.weeks, language),
        ranking_chart=chart.ranking_svg(on_time.ranking, language),
        ranking_table=chart.ranking_table(on_time.ranking, language),
        files=files,
    )


def _number(value: float, language: Language) -> str:
    shown = f"{value:.2f}".rstrip("0").rstrip(".")
    return shown.replace(".", ",") if language == "vi" else shown


def _indicator_row(item: IndicatorPublic, language: Language) -> dict[str, str]:
    """An indicator as the page shows it: its value (N/A when the denominator is 0), numerator,
    denominator, and what each of those counts."""
    numerator_is, denominator_is = INDICATOR_TERMS[item.code][language]
    if item.unit == "percent":
        value = percent_text(item.value, language)
    elif item.value is None:
        value = TITLES["not_available"][language]
    else:
        value = f"{_number(item.value, language)} {INDICATOR_HEADINGS['days'][language]}"
    return {
        "name": item.name,
        "value": value,
        "numerator": _number(item.numerator, language),
        "denominator": _number(item.denominator, language),
        "numerator_is": numerator_is,
        "denominator_is": denominator_is,
    }


def _grouping_names(language: Language) -> list[tuple[str, str]]:
    return [(grouping, GROUPINGS[grouping][language]) for grouping in GROUPS]


@router.get("/reports/{kind}.{file_format}", response_class=Response)
async def report_file(
    request: Request,
    session: SessionDep,
    me: PageStaffDep,
    kind: Kind,
    file_format: FileFormat,
    start_text: FromDay = "",
    until_text: UntilDay = "",
    group: Group = "agency",
) -> Response:
    """Biểu II.06a (``bieu-II.06a``) or the 766 indicators (``chi-so-766``) as CSV or XLSX, for
    the page's links; the API's files under the page's session."""
    try:
        start, end = chosen_period(start_text, until_text)
    except PeriodProblems as exc:
        [(field, key)] = exc.errors.items()
        raise Invalid(say(request, key), loc=("query", field)) from exc
    grouping = _grouping(group)
    language = reader_language(request)
    now = utc_now()
    if kind == "bieu-II.06a":
        progress = await service.progress_report(
            session, actor=me.staff, start=start, end=end, grouping=grouping, language=language, now=now
        )
        sheet = downloads.progress_sheet(progress, language)
    else:
        indicators = await service.indicator_report(
            session, actor=me.staff, start=start, end=end, grouping=grouping, language=language, now=now
        )
        sheet = downloads.indicators_sheet(indicators, language)
    name = downloads.filename(kind, start, end, file_format)
    return Response(
        downloads.download(sheet, file_format),
        media_type=MEDIA_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
