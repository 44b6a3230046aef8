"""Rows of the authorization matrix for the reports (processing).

Kept apart from ``tests/service/authorization.py`` so that each part of the pages has its rows in
one place; ``test_authorization_matrix.py`` joins them into one table."""

from __future__ import annotations

from tests.service.authorization import Row

ROWS: tuple[Row, ...] = ()
