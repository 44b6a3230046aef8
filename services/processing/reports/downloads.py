"""The reports as files: a table of cells, written as CSV (UTF-8 with a byte-order mark, so that
spreadsheet programs read Vietnamese right) or as an XLSX workbook (openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from services.processing.reports.labels import (
    GROUPINGS,
    INDICATOR_HEADINGS,
    INDICATOR_TERMS,
    PROGRESS_COLUMNS,
    TITLES,
    Language,
)
from services.processing.reports.schemas import IndicatorReport, ProgressReport, ProgressRow

Cell = str | int | float | None
FileFormat = Literal["csv", "xlsx"]

MEDIA_TYPES: dict[FileFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# A cell a spreadsheet would run as a formula (a name an admin typed, say): kept as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Sheet:
    name: str  # the worksheet's tab: short, without the characters a tab may not hold
    title: str
    period: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def period_text(start: date, end: date, language: Language) -> str:
    last = end - timedelta(days=1)
    return TITLES["period"][language].format(start=start.strftime("%d/%m/%Y"), last=last.strftime("%d/%m/%Y"))


def _progress_cells(row: ProgressRow) -> list[Cell]:
    values = {
        "received": row.received.total,
        "received_online": row.received.online,
        "received_in_person": row.received.in_person_or_post,
        "carried_over": row.received.carried_over,
        "resolved": row.resolved.total,
        "early": row.resolved.early,
        "on_time": row.resolved.on_time,
        "late": row.resolved.late,
        "in_progress": row.in_progress.total,
        "within_time": row.in_progress.within_time,
        "overdue": row.in_progress.overdue,
        "ended": row.ended_without_result,
    }
    return [row.key, row.name, *(values[key] for key, _label in PROGRESS_COLUMNS), row.on_time_rate.percent]


def progress_sheet(report: ProgressReport, language: Language) -> Sheet:
    grouping = GROUPINGS[report.grouping][language]
    code = "Mã" if language == "vi" else "Code"
    header = [
        f"{code} ({grouping})",
        grouping,
        *(label[language] for _key, label in PROGRESS_COLUMNS),
        INDICATOR_HEADINGS["rate"][language],
    ]
    rows = [_progress_cells(row) for row in report.rows]
    return Sheet(
        name="II.06a",
        title=TITLES["progress"][language],
        period=period_text(report.period.start, report.period.end, language),
        header=header,
        rows=[*rows, _progress_cells(report.total)],
    )


def indicators_sheet(report: IndicatorReport, language: Language) -> Sheet:
    headings = INDICATOR_HEADINGS
    grouping = GROUPINGS[report.grouping or "all"][language]
    header = [
        grouping,
        headings["indicator"][language],
        headings["value"][language],
        headings["unit"][language],
        headings["numerator"][language],
        headings["numerator_is"][language],
        headings["denominator"][language],
        headings["denominator_is"][language],
    ]
    rows: list[list[Cell]] = []
    for group in report.groups:
        for item in group.indicators:
            numerator_is, denominator_is = INDICATOR_TERMS[item.code][language]
            rows.append(
                [
                    group.name,
                    item.name,
                    TITLES["not_available"][language] if item.value is None else item.value,
                    headings[item.unit][language],
                    item.numerator,
                    numerator_is,
                    item.denominator,
                    denominator_is,
                ]
            )
    return Sheet(
        name="766",
        title=TITLES["indicators"][language],
        period=period_text(report.period.start, report.period.end, language),
        header=header,
        rows=rows,
    )


def _safe(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def as_csv(sheet: Sheet) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([sheet.title])
    writer.writerow([sheet.period])
    writer.writerow(sheet.header)
    for row in sheet.rows:
        writer.writerow(["" if cell is None else _safe(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def as_xlsx(sheet: Sheet) -> bytes:
    # Imported here: openpyxl costs every processing process some 13 MB, and only a download needs it.
    # It ships no type information (and types-openpyxl is not a dependency).
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]

    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet.name
    worksheet.append([sheet.title])
    worksheet.append([sheet.period])
    worksheet.append(list(sheet.header))
    for row in sheet.rows:
        worksheet.append([_safe(cell) for cell in row])
    worksheet["A1"].font = Font(bold=True, size=13)
    for cell in worksheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    worksheet.freeze_panes = "C4"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def download(sheet: Sheet, file_format: FileFormat) -> bytes:
    return as_csv(sheet) if file_format == "csv" else as_xlsx(sheet)


def filename(kind: str, start: date, end: date, file_format: FileFormat) -> str:
    """``bieu-II.06a_2026-11-01_2026-11-30.csv``: the period's first and last day."""
    last = end - timedelta(days=1)
    return f"{kind}_{start.isoformat()}_{last.isoformat()}.{file_format}"
