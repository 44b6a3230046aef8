"""Rows of the authorization matrix for the reports (processing).

Kept apart from ``tests/service/authorization.py`` so that each part of the pages has its rows in
one place; ``test_authorization_matrix.py`` joins them into one table.

Every member of staff reads the reports, each over the dossiers their own scope worked on (an
officer of another unit gets an answer with nothing of the dossier's unit in it, not a refusal:
``tests/service/test_reports.py`` checks what each reach holds). Left without a period, a report
covers the current month.

The reports page (``/reports``) and its files are staff pages over the same reports, under the
session cookie (the matrix's staff hold bearer tokens, which pages accept too): every member of
staff gets them, anyone else the sign-in page (303)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.service.authorization import Context, Row, staff
from tests.service.authorization_staff_pages import signed_in


def _none(_context: Context) -> Mapping[str, Any]:
    return {}


ROWS: tuple[Row, ...] = (
    Row("processing", "GET", "/api/v1/reports/progress", staff(200), path_params=_none),
    Row("processing", "GET", "/api/v1/reports/indicators", staff(200), path_params=_none),
    Row("processing", "GET", "/api/v1/reports/on-time", staff(200), path_params=_none),
    Row("processing", "GET", "/api/v1/reports/on-time.svg", staff(200), path_params=_none),
    Row("processing", "GET", "/reports", signed_in(200), path_params=_none),
    Row(
        "processing",
        "GET",
        "/reports/{kind}.{file_format}",
        signed_in(200),
        path_params=lambda _c: {"kind": "bieu-II.06a", "file_format": "xlsx"},
    ),
)
