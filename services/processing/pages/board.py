"""The manager's board (bảng theo dõi): per unit in the viewer's scope, how many dossiers are open,
near due, overdue and stalled, read from processing's dossiers; and the SLA alerts, live.

The alerts are notify's. Notify takes bearer tokens only, so the page asks processing for a
short-lived one (``POST /board/token``, same origin, CSRF-checked, never in a URL) and calls notify
with ``fetch`` and an ``Authorization`` header (``/board.js``): the open alerts, their
acknowledgement, and the live feed of the alerts in the viewer's scope, which tells the page of
each alert stored, acknowledged or resolved, whoever it is addressed to. Notify allows
processing's origin (``MOTCUA_NOTIFY_CORS_ORIGINS``); the page's Content-Security-Policy allows
notify's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import api, directory
from services.processing.models import WORKLIST_DEADLINE, Dossier, SlaClaim
from services.processing.sign_in.web import PageStaffDep, check_csrf, csrf_binding, render_page, say
from shared.auth import issue_token
from shared.events import OPEN, utc_now
from shared.http import SessionDep
from shared.pages.csrf import token_for
from shared.pages.rendering import CONTENT_SECURITY_POLICY
from shared.settings import AuthSettings, HttpSettings
from shared.staff import Staff
from shared.working_time import WorkingCalendar

router = APIRouter(tags=["pages"])
BOARD_ROLES = frozenset({"manager", "leader", "admin"})
ALERT_KINDS = ("near_due", "overdue", "stalled")
SCRIPT = (Path(__file__).parent / "static" / "board.js").read_bytes()


def _notify_url() -> str:
    http = HttpSettings()
    return f"http://{http.host}:{http.notify_port}"


class BoardSettings(BaseSettings):
    """``MOTCUA_BOARD_*``: where browsers reach notify, and how long the board's token lives."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_BOARD_", extra="ignore")

    notify_url: str = ""
    token_minutes: float = 5.0

    def notify(self) -> str:
        return (self.notify_url or _notify_url()).rstrip("/")


def board_settings(request: Request) -> BoardSettings:
    settings: BoardSettings | None = getattr(request.app.state, "board", None)
    if settings is None:
        settings = request.app.state.board = BoardSettings()
    return settings


@dataclass(frozen=True)
class UnitCounts:
    unit_code: str
    unit_name: str
    open: int
    near_due: int
    overdue: int
    stalled: int


async def unit_counts(
    session: AsyncSession, *, viewer: Staff, now: datetime, near: datetime
) -> list[UnitCounts]:
    """Open, near-due (before ``near``), overdue and stalled dossiers per unit in ``viewer``'s scope.

    Stalled: a stalled alert was raised on the running step after its last action."""
    scope = viewer.scope_clause(
        agency_column=Dossier.current_agency_code, unit_column=Dossier.current_unit_code
    )
    is_open = col(Dossier.status).in_(sorted(OPEN))
    unit = col(Dossier.current_unit_code)
    deadline = WORKLIST_DEADLINE
    totals = select(
        unit,
        func.count(),
        func.sum(case(((deadline >= now) & (deadline < near), 1), else_=0)),
        func.sum(case((deadline < now, 1), else_=0)),
    ).where(scope, is_open)
    counted: dict[str, list[int]] = {
        code: [int(opened), int(near_due or 0), int(overdue or 0), 0]
        for code, opened, near_due, overdue in (await session.exec(totals.group_by(unit))).all()
    }
    stalled = (
        select(unit, func.count(func.distinct(col(Dossier.code))))
        .join(
            SlaClaim,
            (col(SlaClaim.dossier_code) == col(Dossier.code))
            & (col(SlaClaim.step_index) == col(Dossier.current_step_index))
            & (col(SlaClaim.kind) == "stalled"),
        )
        .where(
            scope,
            is_open,
            or_(col(Dossier.last_action_at).is_(None), col(SlaClaim.raised_at) > col(Dossier.last_action_at)),
        )
        .group_by(unit)
    )
    for code, number in (await session.exec(stalled)).all():
        counted.setdefault(code, [0, 0, 0, 0])[3] = int(number)
    names = await directory.units_by_code(session, codes=counted)
    return [
        UnitCounts(code, names[code].name if code in names else code, *numbers)
        for code, numbers in sorted(counted.items())
    ]


def _may_see_board(staff: Staff) -> bool:
    return staff.role in BOARD_ROLES


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, session: SessionDep, me: PageStaffDep) -> Response:
    """Counts per unit, and the open alerts as they arrive."""
    if not _may_see_board(me.staff):
        return render_page(
            request, "problem.html.j2", status_code=403, message=say(request, "board.forbidden")
        )
    notify = board_settings(request).notify()
    policy = CONTENT_SECURITY_POLICY.replace("connect-src 'self'", f"connect-src 'self' {notify}")
    return render_page(
        request,
        "board.html.j2",
        units=await _counts_now(session, me.staff),
        notify=notify,
        csrf_token=token_for(request, csrf_binding(request)),
        kinds=json.dumps(
            {kind: say(request, f"board.kind_{kind}") for kind in ALERT_KINDS}, ensure_ascii=False
        ),
        headers={"Content-Security-Policy": policy},
    )


@router.get("/board/counts", response_class=HTMLResponse)
async def board_counts(request: Request, session: SessionDep, me: PageStaffDep) -> Response:
    """The board's counts per unit alone, which the board reads again as alerts arrive."""
    if not _may_see_board(me.staff):
        return render_page(
            request, "problem.html.j2", status_code=403, message=say(request, "board.forbidden")
        )
    return render_page(request, "board_counts.html.j2", units=await _counts_now(session, me.staff))


async def _counts_now(session: AsyncSession, viewer: Staff) -> list[UnitCounts]:
    now = utc_now()
    near = WorkingCalendar().deadline_after(now, api.NEAR_DUE_HOURS)
    return await unit_counts(session, viewer=viewer, now=now, near=near)


@router.post("/board/token", response_class=JSONResponse)
async def board_token(request: Request, me: PageStaffDep) -> JSONResponse:
    """A bearer token for notify, valid a few minutes, for the signed-in manager's board (the form's
    CSRF token in ``X-CSRF-Token``). It is answered in the body, never in a URL, and not cached."""
    check_csrf(request, request.headers.get("X-CSRF-Token"))
    if not _may_see_board(me.staff):
        return JSONResponse({"detail": "the board is for managers, leaders and admins"}, status_code=403)
    auth: AuthSettings = request.app.state.auth
    minutes = board_settings(request).token_minutes
    token = issue_token(me.staff.username, secret=auth.secret, ttl_hours=minutes / 60)
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": (utc_now() + timedelta(minutes=minutes)).isoformat(),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/board.js", response_class=Response)
async def board_script() -> Response:
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(SCRIPT, media_type="text/javascript; charset=utf-8", headers=headers)
