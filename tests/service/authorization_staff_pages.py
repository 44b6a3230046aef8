"""Rows of the authorization matrix for staff sign-in and the staff pages (processing, notify).

Kept apart from ``tests/service/authorization.py`` so that each part of the pages has its rows in
one place; ``test_authorization_matrix.py`` joins them into one table.

The matrix's staff personas hold bearer tokens, which the pages accept for scripts; a page asked
for without a staff identity (anonymous, a citizen's token, a deactivated user) answers 303 to the
sign-in page. A form posted with a bearer token needs no CSRF token; without an identity and without
the token it is refused (403) before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.service.authorization import (
    SPARE_USERNAME,
    STAFF,
    Context,
    Persona,
    Row,
    admins,
    everyone,
    staff,
    statuses,
)


def _none(_context: Context) -> Mapping[str, Any]:
    return {}


def signed_in(code: int, otherwise: int = 303) -> dict[Persona, int]:
    """A staff page: ``code`` for every active member of staff, ``otherwise`` for anyone else."""
    return {persona: code if persona in STAFF else otherwise for persona in everyone(0)}


ROWS: tuple[Row, ...] = (
    # The shared page layer's routes, served by processing too.
    Row(
        "processing",
        "GET",
        "/static/{name}",
        everyone(200),
        path_params=lambda _c: {"name": "motcua.css"},
    ),
    Row("processing", "GET", "/lang", everyone(303), path_params=_none, query=lambda _c: {"to": "en"}),
    # The sign-in form for anyone; someone signed in already goes on to the page they wanted.
    Row("processing", "GET", "/sign-in", signed_in(303, otherwise=200), path_params=_none),
    # No persona holds the form's CSRF token: refused for all (tests/service/test_staff_sign_in.py
    # signs in).
    Row("processing", "POST", "/sign-in", everyone(403), path_params=_none),
    # A bearer token needs no CSRF token; it has no session to end, so it goes to the sign-in page.
    Row("processing", "POST", "/sign-out", signed_in(303, otherwise=403), path_params=_none),
    Row("processing", "GET", "/password", signed_in(200), path_params=_none),
    # Only a password sign-in has a password to change: a bearer token is refused.
    Row("processing", "POST", "/password", signed_in(403), path_params=_none),
    # The officer's workspace: the worklist, and a dossier for staff in its scope; an officer of
    # another unit gets the page that says so.
    Row("processing", "GET", "/", signed_in(200), path_params=_none),
    Row("processing", "GET", "/dossiers/{code}", statuses(signed_in(200), outsider=403)),
    # An action's form (accept here), back to the dossier or the worklist once done.
    Row(
        "processing",
        "POST",
        "/dossiers/{code}/actions/{action}",
        statuses(signed_in(303), outsider=403),
        state="receiving",
        path_params=lambda c: {"code": c.code, "action": "accept"},
    ),
    # The matrix's dossiers are approved through the API, without an electronic result: 404 for
    # staff in scope, as for any dossier without one.
    Row("processing", "GET", "/dossiers/{code}/result.pdf", statuses(signed_in(404), outsider=403)),
    # A document the dossier does not list: 404 for staff in scope (test_documents_and_results.py
    # opens real ones); the outsider hears only that the dossier is not theirs.
    Row(
        "processing",
        "GET",
        "/dossiers/{code}/documents/{sha256}",
        statuses(signed_in(404), outsider=403),
        path_params=lambda c: {"code": c.code, "sha256": "0" * 64},
    ),
    # The manager's board: heads, leaders and admins; an officer gets the page that says so. Its
    # token for notify likewise (a bearer caller needs no CSRF header); its script is public.
    Row(
        "processing", "GET", "/board", statuses(signed_in(200), officer=403, outsider=403), path_params=_none
    ),
    Row(
        "processing",
        "POST",
        "/board/token",
        statuses(signed_in(200), officer=403, outsider=403),
        path_params=_none,
    ),
    Row(
        "processing",
        "GET",
        "/board/counts",
        statuses(signed_in(200), officer=403, outsider=403),
        path_params=_none,
    ),
    Row("processing", "GET", "/board.js", everyone(200), path_params=_none),
    # The board's live alerts: notify's stream of the alerts in the caller's scope, for every
    # member of staff, as the list is (tests/service/test_notify_alert_stream.py for the scope).
    Row("notify", "GET", "/api/v1/alerts/stream", staff(200), path_params=_none, stream=True),
    Row(
        "processing",
        "PUT",
        "/api/v1/admin/people/{username}/password",
        admins(204),
        path_params=lambda _c: {"username": SPARE_USERNAME},
        body=lambda _c: {"password": "matrix-password-2026"},
    ),
)

__all__ = ["ROWS", "staff", "statuses"]
