"""How the reports come out: the period a request asks for, the SVG charts with their tables, and
the CSV and XLSX files (``services.processing.reports`` api, chart and downloads)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import openpyxl  # type: ignore[import-untyped]
import pytest

from services.processing.reports import chart, downloads
from services.processing.reports.api import EARLIEST, LONGEST, period_days
from services.processing.reports.schemas import (
    IndicatorGroup,
    IndicatorPublic,
    IndicatorReport,
    InProgress,
    PeriodPublic,
    ProgressReport,
    ProgressRow,
    RankedUnit,
    RatioPublic,
    Received,
    Resolved,
    WeekPublic,
)
from shared.errors import Invalid
from shared.working_time import VN_TZ

# 00:30 on 1 December 2026 in Vietnam, still 30 November in UTC.
NOW = datetime(2026, 12, 1, 0, 30, tzinfo=VN_TZ)


# -- the period -------------------------------------------------------------------------------------
def test_without_days_the_period_is_vietnams_current_month() -> None:
    assert period_days(None, None, now=NOW) == (date(2026, 12, 1), date(2027, 1, 1))


def test_from_alone_runs_to_today_and_to_alone_from_its_month() -> None:
    assert period_days(date(2026, 11, 20), None, now=NOW) == (date(2026, 11, 20), date(2026, 12, 2))
    assert period_days(None, date(2026, 11, 1), now=NOW) == (date(2026, 10, 1), date(2026, 11, 1))


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (date(2026, 11, 5), date(2026, 11, 5), "to", "to must be after from"),
        (date(2026, 11, 5), date(2026, 11, 4), "to", "to must be after from"),
        (date(2025, 1, 1), date(2026, 1, 3), "to", "at most 366 days"),
        (date(1, 1, 1), date(1, 1, 2), "from", "2000-01-01 or later"),
        (date(2026, 12, 2), None, "from", "not be after today"),
    ],
)
def test_a_bad_period_names_its_field(start: date, end: date | None, field: str, message: str) -> None:
    with pytest.raises(Invalid, match=message) as raised:
        period_days(start, end, now=NOW)
    assert raised.value.loc == ("query", field)


def test_to_alone_in_a_future_month_names_to() -> None:
    with pytest.raises(Invalid, match="in the past") as raised:
        period_days(None, date(2027, 3, 1), now=NOW)
    assert raised.value.loc == ("query", "to")


@pytest.mark.parametrize("start", [None, date.min, date(2026, 11, 1), date.max])
@pytest.mark.parametrize("end", [None, date.min, date(2026, 11, 2), date.max])
def test_the_ends_of_the_calendar_are_refused_not_fallen_off(start: date | None, end: date | None) -> None:
    try:
        first, after = period_days(start, end, now=NOW)
    except Invalid as refused:
        assert refused.loc in {("query", "from"), ("query", "to")}
    else:
        assert EARLIEST <= first <= NOW.date()
        assert first < after <= first + LONGEST


def test_a_year_and_a_leap_day_fit() -> None:
    assert period_days(date(2024, 1, 1), date(2025, 1, 1), now=NOW) == (date(2024, 1, 1), date(2025, 1, 1))


# -- the charts --------------------------------------------------------------------------------------
def week(day: int, numerator: int, denominator: int) -> WeekPublic:
    percent = None if not denominator else round(numerator / denominator * 100, 2)
    return WeekPublic(
        first_day=date(2026, 11, day),
        start=date(2026, 11, day),
        end=date(2026, 11, day + 7),
        on_time_rate=RatioPublic(numerator=numerator, denominator=denominator, percent=percent),
    )


WEEKS = [week(2, 3, 4), week(9, 0, 0)]


def test_the_weekly_chart_is_a_titled_image_that_reads_out_its_values() -> None:
    svg = str(chart.on_time_svg(WEEKS, "vi", ident="weeks"))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    assert 'aria-labelledby="weeks-title weeks-desc"' in svg
    assert '<title id="weeks-title">Tỷ lệ giải quyết đúng hạn theo tuần</title>' in svg
    assert "Tuần từ 02/11: 75 %; Tuần từ 09/11: Không có</desc>" in svg
    # A bar for the week with dossiers, none for the week without.
    assert svg.count("<rect") == 1
    assert "Week of 02/11: 75%" in str(chart.on_time_svg(WEEKS, "en"))


def test_the_weekly_table_holds_the_same_numbers() -> None:
    table = str(chart.on_time_table(WEEKS, "vi"))
    assert "<caption>Tỷ lệ giải quyết đúng hạn theo tuần</caption>" in table
    assert '<th scope="row">Tuần từ 02/11</th><td>3</td><td>4</td><td>75 %</td>' in table
    assert "<td>0</td><td>0</td><td>Không có</td>" in table


def test_a_chart_of_nothing_still_has_a_title_and_a_description() -> None:
    svg = str(chart.on_time_svg([], "en"))
    assert "<title" in svg and "<desc" in svg and "N/A</desc>" in svg


RANKING = [
    RankedUnit(
        rank=1,
        key="A",
        name="<script>alert(1)</script>",
        on_time_rate=RatioPublic(numerator=9, denominator=10, percent=90.0),
    ),
    RankedUnit(
        rank=2,
        key="B",
        name="Phòng Kinh tế",
        on_time_rate=RatioPublic(numerator=0, denominator=0, percent=None),
    ),
]


def test_the_ranking_escapes_names_and_shows_every_unit() -> None:
    svg = str(chart.ranking_svg(RANKING, "vi"))
    table = str(chart.ranking_table(RANKING, "vi"))
    for markup in (svg, table):
        assert "<script>" not in markup
        assert "&lt;script&gt;" in markup
    assert svg.count("<rect") == 1
    assert "2. Phòng Kinh tế: Không có" in svg
    assert (
        '<td>1</td><th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th>'
        "<td>9</td><td>10</td><td>90 %</td>" in table
    )


# -- the files -----------------------------------------------------------------------------------------
PERIOD = PeriodPublic(start=date(2026, 11, 1), end=date(2026, 12, 1), as_of=NOW)


def progress_row(key: str, name: str, early: int) -> ProgressRow:
    return ProgressRow(
        key=key,
        name=name,
        received=Received(total=early + 1, online=early, in_person_or_post=1, carried_over=0),
        resolved=Resolved(total=early, early=early, on_time=0, late=0),
        in_progress=InProgress(total=1, within_time=0, overdue=1),
        ended_without_result=0,
        on_time_rate=RatioPublic(numerator=early, denominator=early + 1, percent=50.0),
    )


REPORT = ProgressReport(
    period=PERIOD,
    grouping="procedure",
    rows=[progress_row("1.001193", '=HYPERLINK("http://evil")', 1)],
    total=progress_row("", "Tổng cộng", 1),
)


def test_the_csv_has_a_byte_order_mark_the_form_headers_and_no_formulas() -> None:
    content = downloads.as_csv(downloads.progress_sheet(REPORT, "vi"))
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["Biểu II.06a: Tình hình, kết quả giải quyết thủ tục hành chính"]
    assert rows[1] == ["Kỳ báo cáo: từ 01/11/2026 đến hết 30/11/2026"]
    assert rows[2][:4] == [
        "Mã (Thủ tục)",
        "Thủ tục",
        "Số hồ sơ nhận giải quyết: tổng số",
        "Mới tiếp nhận trực tuyến",
    ]
    assert rows[3][1] == '\'=HYPERLINK("http://evil")'
    assert rows[4][:3] == ["", "Tổng cộng", "2"]


def test_the_xlsx_holds_the_same_cells() -> None:
    content = downloads.as_xlsx(downloads.progress_sheet(REPORT, "en"))
    sheet = openpyxl.load_workbook(io.BytesIO(content))["II.06a"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1] == ["Period: 01/11/2026 to 30/11/2026 inclusive", *[None] * (len(values[1]) - 1)]
    assert values[2][:3] == ["Code (Procedure)", "Procedure", "Received: total"]
    assert values[3][1] == '\'=HYPERLINK("http://evil")'
    # The names come with the report, in the language it was read in.
    assert values[4][1:4] == ["Tổng cộng", 2, 1]


def test_an_indicator_without_a_denominator_reads_not_available() -> None:
    report = IndicatorReport(
        period=PERIOD,
        grouping=None,
        groups=[
            IndicatorGroup(
                key="",
                name="Phạm vi của bạn",
                indicators=[
                    IndicatorPublic(
                        code="4.1",
                        name="4.1 Tỷ lệ cấp kết quả điện tử",
                        numerator=0,
                        denominator=0,
                        value=None,
                        unit="percent",
                    )
                ],
            )
        ],
    )
    rows = list(
        csv.reader(
            io.StringIO(downloads.as_csv(downloads.indicators_sheet(report, "vi")).decode("utf-8-sig"))
        )
    )
    assert rows[3] == [
        "Phạm vi của bạn",
        "4.1 Tỷ lệ cấp kết quả điện tử",
        "Không có",
        "%",
        "0.0",
        "Kết quả có tệp điện tử",
        "0.0",
        "Hồ sơ được phê duyệt",
    ]


def test_a_files_name_gives_the_periods_first_and_last_day() -> None:
    assert downloads.filename("bieu-II.06a", date(2026, 11, 1), date(2026, 12, 1), "xlsx") == (
        "bieu-II.06a_2026-11-01_2026-11-30.xlsx"
    )
