"""The authorization matrix: who gets which status from every route of the three services.

``tests/service/test_authorization_matrix.py`` sends each route of each service's OpenAPI document
as each persona below and compares the status with the row here. A route without a row fails, and
so does a row whose route no longer exists: a new route cannot ship unreviewed.

Conventions (what a reviewer signs off):

- 200/201/202/204: the persona is allowed and the call succeeds. State-changing rows name the
  dossier ``state`` in which the action succeeds; every (row, persona) case then gets a fresh dossier
  in that state, so a success (allowed or not) never spoils a later case. Rows that change something
  other than a dossier send a body unique to the case (a new agency code, a new username...).
- 401: no identity the route accepts (anonymous, a deactivated user, a citizen token on a staff
  route, a staff token on a citizen route).
- 403: a known identity without the role (an officer on an admin route, an officer out of the
  dossier's unit in processing, where staff may learn that a dossier exists).
- 404: what the caller may not know exists: another citizen's dossier, someone else's notification.
- 409/503 appear only where they are the answer for everyone and say why in a comment.
- Where today's answer is wrong per issue 9, the row holds the **intended** status and the persona
  is listed in ``fixes`` with the item; the test marks that case ``xfail(strict=True)``, so the mark
  must go when the fix merges (a fixed case that still carries it fails).

Personas: the owning citizen holds a citizen token for the dossier's applicant CCCD; another citizen
a token for another CCCD; staff hold staff tokens. The officer, manager and leader sit in the
dossier's unit and agency; the outsider is an officer of another unit of the same agency; the
inactive user is a deactivated officer of the dossier's unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from shared.events import utc_now
from shared.settings import ServiceName
from shared.working_time import VN_TZ, WorkingCalendar

Persona = Literal[
    "anonymous",
    "owner",
    "other_citizen",
    "officer",
    "outsider",
    "manager",
    "leader",
    "admin",
    "inactive",
]
PERSONAS: tuple[Persona, ...] = (
    "anonymous",
    "owner",
    "other_citizen",
    "officer",
    "outsider",
    "manager",
    "leader",
    "admin",
    "inactive",
)
CITIZENS: tuple[Persona, ...] = ("owner", "other_citizen")
STAFF: tuple[Persona, ...] = ("officer", "outsider", "manager", "leader", "admin")

# The directory the matrix runs on: an agency of its own, so that the seed data may change freely.
AGENCY = "MATRIX.AGENCY"
DESK = "MATRIX.DESK"  # the receiving unit, where every step of the procedure runs
OTHER_UNIT = "MATRIX.OTHER"
PROCEDURE = "MATRIX-1"
OWNER_ID_NUMBER = "049090001234"
OTHER_ID_NUMBER = "048191005678"
USERNAMES: Mapping[Persona, str] = {
    "officer": "matrix-officer",
    "outsider": "matrix-outsider",
    "manager": "matrix-manager",
    "leader": "matrix-leader",
    "admin": "matrix-admin",
    "inactive": "matrix-inactive",
}
# Someone admin routes may edit without touching a persona.
SPARE_USERNAME = "matrix-spare"
TEMPLATE_KEY = ("vi", "dossier.accepted", "sms")

DossierState = Literal["receiving", "new", "processing", "waiting", "releasing", "done"]


@dataclass(frozen=True)
class Context:
    """What a case fills a route's path, query and body from."""

    code: str  # the case's dossier: the shared one, or a fresh one in the row's state
    unique: str  # different in every case, for names that must not exist yet
    owner_notification: str  # the owning citizen's inbox notification about the dossier
    officer_notification: str  # the officer's inbox notification about the dossier
    alert: str  # an open SLA alert on the dossier's unit, fresh for each case


Fill = Callable[[Context], Mapping[str, Any]]
# A JSON body: an object, or a list for the routes that take one (a year's calendar).
Body = Callable[[Context], Mapping[str, Any] | list[Any]]


def _dossier_code(context: Context) -> Mapping[str, Any]:
    return {"code": context.code}


@dataclass(frozen=True)
class Row:
    service: ServiceName
    method: str
    path: str
    expected: Mapping[Persona, int]
    # A fresh dossier per case in this state; None: the shared dossier (accepted and forwarded).
    state: DossierState | None = None
    path_params: Fill = _dossier_code
    query: Fill | None = None
    body: Body | None = None
    # Persona → "issue 9 item N: why": today's status differs from the intended one in ``expected``.
    fixes: Mapping[Persona, str] = field(default_factory=dict)
    # A Server-Sent Events stream: only the response's start is awaited.
    stream: bool = False
    # What must exist before every case, so that an allowed delete finds something to delete.
    prepare: Literal["calendar day", "template override"] | None = None

    @property
    def route(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def statuses(base: Mapping[Persona, int], **overrides: int) -> dict[Persona, int]:
    unknown = set(overrides) - set(PERSONAS)
    assert not unknown, f"unknown personas {sorted(unknown)}"
    return {**base, **overrides}  # type: ignore[dict-item]


def everyone(code: int) -> dict[Persona, int]:
    return dict.fromkeys(PERSONAS, code)


def staff(code: int) -> dict[Persona, int]:
    """A staff route every active member of staff may use."""
    return {persona: code if persona in STAFF else 401 for persona in PERSONAS}


def in_scope(code: int) -> dict[Persona, int]:
    """A processing dossier route: staff of the dossier's unit and agency, and admins."""
    return statuses(staff(code), outsider=403)


def admins(code: int) -> dict[Persona, int]:
    return statuses(staff(403), admin=code)


def owning_citizen(code: int) -> dict[Persona, int]:
    """The applicant with a citizen session; another citizen learns nothing of the dossier."""
    return statuses(everyone(401), owner=code, other_citizen=404)


# -- intake ------------------------------------------------------------------------------------------
def _owner_key(context: Context) -> Mapping[str, Any]:
    # The code plus the owner's CCCD, as anyone holding a photocopy of it could send.
    return {"code": context.code, "id_number": OWNER_ID_NUMBER}


def submission(_context: Context) -> Mapping[str, Any]:
    return {
        "procedure_code": PROCEDURE,
        "applicant": {
            "full_name": "Nguyễn Văn An",
            "id_number": OWNER_ID_NUMBER,
            "phone": "0905123456",
            "email": "an@example.vn",
            "address": "12 Trần Phú, Hải Châu, Đà Nẵng",
        },
        "documents": [],
        "channel": "online",
    }


INTAKE: tuple[Row, ...] = (
    Row("intake", "GET", "/api/v1/procedures", everyone(200), path_params=lambda _c: {}),
    Row(
        "intake",
        "GET",
        "/api/v1/procedures/{code}",
        everyone(200),
        path_params=lambda _c: {"code": PROCEDURE},
    ),
    # Submission stays anonymous: a citizen signs in with a dossier they already have.
    Row("intake", "POST", "/api/v1/dossiers", everyone(201), path_params=lambda _c: {}, body=submission),
    Row(
        "intake",
        "GET",
        "/api/v1/dossiers/{code}",
        owning_citizen(200),
    ),
    Row(
        "intake",
        "GET",
        "/api/v1/dossiers/{code}/receipt",
        owning_citizen(200),
    ),
    Row(
        "intake",
        "POST",
        "/api/v1/dossiers/{code}/supplements",
        owning_citizen(202),
        state="waiting",
        body=lambda _c: {"note": "Bản sao giấy chứng sinh"},
    ),
    Row(
        "intake",
        "POST",
        "/api/v1/dossiers/{code}/withdrawal",
        owning_citizen(202),
        state="processing",
        body=lambda _c: {"reason": "Nộp nhầm thủ tục"},
    ),
    Row(
        "intake",
        "POST",
        "/api/v1/dossiers/{code}/rating",
        owning_citizen(201),
        state="done",
        body=lambda _c: {"rating": "satisfied"},
    ),
    # The page the receipt's QR code opens: a form, nothing about the dossier.
    Row(
        "intake",
        "GET",
        "/api/v1/lookup",
        everyone(200),
        path_params=lambda _c: {},
        query=lambda c: {"code": c.code},
    ),
    # Code plus CCCD shows the status and due date to anyone, as the national portal does.
    Row("intake", "POST", "/api/v1/lookup", everyone(200), path_params=lambda _c: {}, body=_owner_key),
    # Anyone may ask for a code: it goes to the contact the dossier holds, not to the caller.
    Row(
        "intake",
        "POST",
        "/api/v1/citizen/one-time-codes",
        everyone(202),
        path_params=lambda _c: {},
        body=lambda c: {"dossier_code": c.code, "id_number": OWNER_ID_NUMBER},
    ),
    # Only the holder of a one-time code opens a session, which no persona holds here
    # (tests/service/test_citizen_sign_in.py covers the exchange).
    Row(
        "intake",
        "POST",
        "/api/v1/citizen/sessions",
        everyone(401),
        path_params=lambda _c: {},
        body=lambda _c: {"challenge_id": "matrix-unknown", "code": "000000"},
    ),
    Row("intake", "GET", "/healthz", everyone(200), path_params=lambda _c: {}),
    # The matrix runs without NATS, so readiness says so to everyone.
    Row("intake", "GET", "/readyz", everyone(503), path_params=lambda _c: {}),
)


# -- processing -----------------------------------------------------------------------------------------
def _action(path: str, state: DossierState, body: Body | None = None, **changes: Any) -> Row:
    return Row(
        "processing",
        "POST",
        f"/api/v1/dossiers/{{code}}/{path}",
        in_scope(200),
        state=state,
        body=body,
        **changes,
    )


def _new_due_at(_context: Context) -> Mapping[str, Any]:
    # The procedure runs for 30 days: 60 days on is later and within a year, on a working day.
    moment = utc_now().astimezone(VN_TZ) + timedelta(days=60)
    while not WorkingCalendar().is_working_day(moment.date()):
        moment += timedelta(days=1)
    return {"reason": "Chờ kết quả xác minh", "new_due_at": moment.isoformat()}


def _none(_context: Context) -> Mapping[str, Any]:
    return {}


def _unique_agency(context: Context) -> Mapping[str, Any]:
    return {"code": f"MATRIX.A{context.unique}", "name": "Cơ quan thử"}


def _unique_unit(context: Context) -> Mapping[str, Any]:
    return {"code": f"MATRIX.U{context.unique}", "agency_code": AGENCY, "name": "Đơn vị thử"}


def _unique_person(context: Context) -> Mapping[str, Any]:
    return {
        "username": f"matrix-new-{context.unique}",
        "full_name": "Cán bộ mới",
        "role": "officer",
        "unit_code": OTHER_UNIT,
    }


def _unique_procedure(context: Context) -> Mapping[str, Any]:
    return {
        "code": f"MATRIX-P{context.unique}",
        "name": "Thủ tục thử",
        "field": "Thử nghiệm",
        "agency_code": AGENCY,
        "level": "full",
        "time_limit": {"value": 60, "unit": "minute"},
        "steps": [{"name": "Tiếp nhận", "unit_code": DESK, "hours": 1}],
    }


def _year(_context: Context) -> Mapping[str, Any]:
    return {"year": 2030}


PROCESSING: tuple[Row, ...] = (
    # The catalog is public, as intake's copy of it is.
    Row("processing", "GET", "/api/v1/procedures", everyone(200), path_params=_none),
    Row("processing", "GET", "/api/v1/worklist", staff(200), path_params=_none),
    Row("processing", "GET", "/api/v1/dossiers/{code}", in_scope(200)),
    _action("accept", "receiving"),
    _action("refuse", "receiving", lambda _c: {"reason": "Hồ sơ không thuộc thẩm quyền"}),
    # The shared-state dossier's current step is unassigned, so any head or officer may take it.
    _action("claim", "processing"),
    _action("forward", "new"),
    _action(
        "request-supplement",
        "new",
        lambda _c: {"reason": "Thiếu giấy tờ", "items": ["Bản sao giấy chứng sinh"]},
    ),
    _action("approve", "processing", lambda _c: {"result": {"name": "Giấy khai sinh"}}),
    _action("reject", "processing", lambda _c: {"reason": "Không đủ điều kiện"}),
    _action("return-result", "releasing"),
    Row(
        "processing",
        "POST",
        "/api/v1/dossiers/{code}/reschedule",
        statuses(in_scope(200), officer=403, admin=403),
        state="new",
        # The apology letter moves the legal due date: managers and leaders only.
        body=_new_due_at,
    ),
    Row("processing", "GET", "/api/v1/admin/agencies", admins(200), path_params=_none),
    Row("processing", "POST", "/api/v1/admin/agencies", admins(201), path_params=_none, body=_unique_agency),
    Row(
        "processing",
        "GET",
        "/api/v1/admin/agencies/{code}",
        admins(200),
        path_params=lambda _c: {"code": AGENCY},
    ),
    Row(
        "processing",
        "PATCH",
        "/api/v1/admin/agencies/{code}",
        admins(200),
        path_params=lambda _c: {"code": AGENCY},
        body=lambda _c: {"name": "Cơ quan của ma trận phân quyền"},
    ),
    Row("processing", "GET", "/api/v1/admin/units", admins(200), path_params=_none),
    Row("processing", "POST", "/api/v1/admin/units", admins(201), path_params=_none, body=_unique_unit),
    Row(
        "processing",
        "PATCH",
        "/api/v1/admin/units/{code}",
        admins(200),
        path_params=lambda _c: {"code": OTHER_UNIT},
        body=lambda _c: {"name": "Đơn vị khác"},
    ),
    Row("processing", "GET", "/api/v1/admin/people", admins(200), path_params=_none),
    Row("processing", "POST", "/api/v1/admin/people", admins(201), path_params=_none, body=_unique_person),
    Row(
        "processing",
        "PATCH",
        "/api/v1/admin/people/{username}",
        admins(200),
        path_params=lambda _c: {"username": SPARE_USERNAME},
        body=lambda _c: {"full_name": "Cán bộ dự phòng"},
    ),
    Row("processing", "GET", "/api/v1/admin/calendar/{year}", admins(200), path_params=_year),
    Row(
        "processing",
        "PUT",
        "/api/v1/admin/calendar/{year}",
        admins(200),
        path_params=_year,
        body=lambda _c: [{"day": "2030-05-04", "working": True, "note": "Làm bù"}],
    ),
    Row(
        "processing",
        "DELETE",
        "/api/v1/admin/calendar/{year}/{day}",
        admins(204),
        path_params=lambda _c: {"year": 2030, "day": "2030-05-04"},
        prepare="calendar day",
    ),
    Row("processing", "GET", "/api/v1/admin/procedures", admins(200), path_params=_none),
    Row(
        "processing",
        "POST",
        "/api/v1/admin/procedures",
        admins(201),
        path_params=_none,
        body=_unique_procedure,
    ),
    Row(
        "processing",
        "GET",
        "/api/v1/admin/procedures/{code}/versions",
        admins(200),
        path_params=lambda _c: {"code": PROCEDURE},
    ),
    Row("processing", "GET", "/healthz", everyone(200), path_params=_none),
    Row("processing", "GET", "/readyz", everyone(503), path_params=_none),
)


# -- notify ----------------------------------------------------------------------------------------------
OWN_NOTIFICATION = statuses(everyone(404), anonymous=401, inactive=401, owner=200)


def _template_key(_context: Context) -> Mapping[str, Any]:
    language, event_type, channel = TEMPLATE_KEY
    return {"language": language, "event_type": event_type, "channel": channel}


NOTIFY: tuple[Row, ...] = (
    # Each caller's own list (empty for most): 200 for anyone signed in.
    Row(
        "notify",
        "GET",
        "/api/v1/notifications",
        statuses(everyone(200), anonymous=401, inactive=401),
        path_params=_none,
    ),
    Row(
        "notify",
        "GET",
        "/api/v1/notifications/{notification_id}",
        OWN_NOTIFICATION,
        path_params=lambda c: {"notification_id": c.owner_notification},
    ),
    Row("notify", "GET", "/api/v1/inbox", staff(200), path_params=_none),
    Row("notify", "GET", "/api/v1/inbox/stream", staff(200), path_params=_none, stream=True),
    # The officer's own inbox message; anyone else's is not there for them.
    Row(
        "notify",
        "POST",
        "/api/v1/inbox/{notification_id}/read",
        statuses(staff(404), officer=200),
        path_params=lambda c: {"notification_id": c.officer_notification},
    ),
    Row("notify", "GET", "/api/v1/alerts", staff(200), path_params=_none),
    # Managers and leaders in scope, and admins, acknowledge; the alert is fresh in every case.
    Row(
        "notify",
        "POST",
        "/api/v1/alerts/{alert_id}/ack",
        statuses(staff(200), officer=403, outsider=403),
        path_params=lambda c: {"alert_id": c.alert},
    ),
    Row("notify", "GET", "/api/v1/preferences", staff(200), path_params=_none),
    Row(
        "notify",
        "PUT",
        "/api/v1/preferences",
        staff(200),
        path_params=_none,
        body=lambda _c: {"language": "vi", "email_alerts": True, "daily_digest": False},
    ),
    # The SMS gateway's own token only, which no persona holds (tests/service/test_notify_sms.py
    # covers the gateway).
    Row(
        "notify",
        "POST",
        "/api/v1/delivery-reports/sms",
        everyone(401),
        path_params=_none,
        body=lambda _c: {"reference": "matrix-unknown", "status": "delivered"},
    ),
    Row("notify", "GET", "/api/v1/admin/templates", admins(200), path_params=_none),
    Row(
        "notify",
        "GET",
        "/api/v1/admin/templates/{language}/{event_type}/{channel}",
        admins(200),
        path_params=_template_key,
    ),
    Row(
        "notify",
        "PUT",
        "/api/v1/admin/templates/{language}/{event_type}/{channel}",
        admins(200),
        path_params=_template_key,
        body=lambda _c: {
            "subject": "Hồ sơ {{ dossier_code }}",
            "body": "Hồ sơ {{ dossier_code }} đã được tiếp nhận.",
        },
    ),
    Row(
        "notify",
        "DELETE",
        "/api/v1/admin/templates/{language}/{event_type}/{channel}",
        admins(204),
        path_params=_template_key,
        prepare="template override",
    ),
    Row("notify", "GET", "/healthz", everyone(200), path_params=_none),
    Row("notify", "GET", "/readyz", everyone(503), path_params=_none),
)

TABLE: tuple[Row, ...] = INTAKE + PROCESSING + NOTIFY
