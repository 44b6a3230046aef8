"""Rows of the authorization matrix for the citizen portal's pages (intake).

Kept apart from ``tests/service/authorization.py`` so that each part of the pages has its rows in
one place; ``test_authorization_matrix.py`` joins them into one table.

The pages read no bearer token: the citizen's session is a cookie, which no persona of the matrix
holds, so every persona gets what an anonymous browser gets. Without the session a citizen's page
leads to the look-up (303), and a form without its page's CSRF token is refused (403) or, when it
carries files, comes back as a form (422) before anything is read; nothing changes either way.
``tests/service/test_portal.py`` walks the same pages with a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.settings import ServiceName
from tests.service.authorization import PROCEDURE, Context, Row, everyone


def _procedure(_context: Context) -> Mapping[str, Any]:
    return {"code": PROCEDURE}


def _nothing(_context: Context) -> Mapping[str, Any]:
    return {}


def page_layer_rows(service: ServiceName) -> tuple[Row, ...]:
    """The routes ``shared.pages.mount_pages`` adds to a service: its stylesheet and script, and
    the language switch, open to everyone."""
    return (
        Row(service, "GET", "/static/{name}", everyone(200), path_params=lambda _c: {"name": "motcua.css"}),
        Row(
            service,
            "GET",
            "/lang",
            everyone(303),
            path_params=_nothing,
            query=lambda _c: {"to": "en", "next": "/"},
        ),
    )


ROWS: tuple[Row, ...] = (
    *page_layer_rows("intake"),
    # The catalog and the submission form are public, as the API's catalog and submission are.
    Row("intake", "GET", "/", everyone(200), path_params=_nothing),
    Row("intake", "GET", "/procedures/{code}", everyone(200), path_params=_procedure),
    Row("intake", "GET", "/procedures/{code}/submit", everyone(200), path_params=_procedure),
    # Not a form with files: it comes back as the form, and nothing is stored.
    Row("intake", "POST", "/procedures/{code}/submit", everyone(422), path_params=_procedure),
    # The receipt opens with the submission's own cookie or a citizen session only.
    Row("intake", "GET", "/receipt/{code}", everyone(303)),
    Row("intake", "GET", "/receipt/{code}/print", everyone(303)),
    Row("intake", "GET", "/lookup", everyone(200), path_params=_nothing),
    Row("intake", "POST", "/lookup", everyone(403), path_params=_nothing),
    Row("intake", "POST", "/lookup/one-time-code", everyone(403), path_params=_nothing),
    Row("intake", "POST", "/sign-in", everyone(403), path_params=_nothing),
    Row("intake", "POST", "/sign-out", everyone(403), path_params=_nothing),
    # The citizen's own dossier and its forms need the citizen session's cookie.
    Row("intake", "GET", "/dossiers/{code}", everyone(303)),
    # The demo's mailbox on notify: the matrix's notify runs outside the demo, where it answers 404
    # to all; in the demo anyone reads it (tests/service/test_demo_messages.py).
    Row("notify", "GET", "/demo/messages", everyone(404), path_params=_nothing),
    # The electronic result: only the applicant's session gets it; without one, no such file.
    Row("intake", "GET", "/dossiers/{code}/result.pdf", everyone(404)),
    Row("intake", "POST", "/dossiers/{code}/supplement", everyone(303)),
    Row("intake", "POST", "/dossiers/{code}/withdrawal", everyone(303)),
    Row("intake", "POST", "/dossiers/{code}/rating", everyone(303)),
)
