"""The officer's workspace: the worklist and the dossier page, with a form for every action.

Reads go through the API's own routes (``api.worklist``, ``api.get_dossier``), so the pages and the
API filter, scope and compute clocks alike; each action's form becomes the API's command and runs
through ``actions.execute`` in one transaction, as ``POST /api/v1/dossiers/{code}/{action}`` does.
A form carries the revision the page showed: a dossier changed meanwhile answers "reload" instead
of two officers both winning."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile
from starlette.types import Scope

from services.processing import actions, api, catalog, domain, queries
from services.processing.auth import actor_named
from services.processing.commands import Approve
from services.processing.pages.offers import FIELDS, FormProblems, command_of, offered, running_step
from services.processing.result_files import MAX_RESULT_BYTES, PDF, checked_pdf, result_files_in
from services.processing.schemas import DossierPublic
from services.processing.sign_in.web import PageStaff, PageStaffDep, check_csrf, render_page, say
from shared.body_limit import BodyCap
from shared.bus.objects import ObjectUploads
from shared.bus.streams import RESULTS
from shared.errors import NotFound, Refusal
from shared.events import DossierStatus, utc_now
from shared.http import MAX_OFFSET, RuntimeDep, SessionDep
from shared.staff import Staff
from shared.working_time import WorkingCalendar

router = APIRouter(tags=["pages"])

PAGE_SIZE = 50
MAX_PAGE = MAX_OFFSET // PAGE_SIZE
# The worklist's own statuses: the open ones a filter may pick.
OPEN_STATUSES = (1, 2, 4, 5, 6, 9)


def time_left(deadline: datetime | None, *, now: datetime, near: datetime) -> str:
    """``overdue``, ``near`` (within the API's near-due hours) or ``ok``: a colour and a word."""
    if deadline is None:
        return "ok"
    if deadline < now:
        return "overdue"
    return "near" if deadline < near else "ok"


@router.get("/", response_class=HTMLResponse)
async def worklist_page(
    request: Request,
    session: SessionDep,
    me: PageStaffDep,
    status: Annotated[int | None, Query(ge=1, le=10)] = None,
    step: Annotated[str, Query(max_length=200)] = "",
    mine: bool = False,
    near_due: bool = False,
    overdue: bool = False,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The dossiers waiting on the officer's unit, soonest deadline first, a page at a time."""
    rows = await api.worklist(
        session,
        me.staff,
        status_filter=None if status is None else [status],
        step=step.strip() or None,
        assignee="me" if mine else None,
        near_due=near_due,
        overdue=overdue,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    now = utc_now()
    near = WorkingCalendar().deadline_after(now, api.NEAR_DUE_HOURS)
    filters = {
        "status": "" if status is None else str(status),
        "step": step,
        "mine": "1" if mine else "",
        "near_due": "1" if near_due else "",
        "overdue": "1" if overdue else "",
    }
    kept = {name: value for name, value in filters.items() if value}

    def page_link(number: int) -> str:
        return "/?" + urlencode({**kept, "page": number})

    entries = [
        {
            "dossier": row,
            "deadline": row.due_at or row.acceptance_due_at,
            "left": time_left(row.due_at or row.acceptance_due_at, now=now, near=near),
        }
        for row in rows[:PAGE_SIZE]
    ]
    return render_page(
        request,
        "worklist.html.j2",
        entries=entries,
        filters=filters,
        statuses=OPEN_STATUSES,
        page=page,
        previous=page_link(page - 1) if page > 1 else None,
        following=page_link(page + 1) if len(rows) > PAGE_SIZE else None,
    )


async def _dossier_view(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    code: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    failed: str | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
) -> Response:
    dossier = await api.get_dossier(code, session, staff.staff)
    procedure = await catalog.procedure_of(session, await queries.get(session, code=code))
    done = request.query_params.get("done")
    return render_page(
        request,
        "dossier.html.j2",
        status_code=status_code,
        dossier=dossier,
        procedure=procedure,
        step=running_step(dossier),
        offered=[action.value for action in offered(staff.staff, dossier, procedure, now=utc_now())],
        fields={action.value: fields for action, fields in FIELDS.items()},
        status_text=_status_text(request, dossier.status),
        errors=errors or {},
        failed=failed,
        values=values or {},
        problem=problem,
        done=done if done in {action.value for action in FIELDS} else None,
        max_mib=MAX_RESULT_BYTES // (1024 * 1024),
    )


def _status_text(request: Request, status: int) -> str:
    return say(request, f"status.{status}") if DossierStatus(status) else ""


@router.get("/dossiers/{code}", response_class=HTMLResponse)
async def dossier_page(request: Request, code: str, session: SessionDep, me: PageStaffDep) -> Response:
    """The dossier: applicant, documents, steps with their working time, history and actions."""
    try:
        return await _dossier_view(request, session, me, code)
    except Refusal as exc:
        return _problem(request, exc)


def _problem(request: Request, exc: Refusal) -> Response:
    key = "problem.not_found" if isinstance(exc, NotFound) else "problem.forbidden"
    return render_page(request, "problem.html.j2", status_code=exc.status_code, message=say(request, key))


@router.post("/dossiers/{code}/actions/{action}", response_class=HTMLResponse)
async def act(
    request: Request, code: str, action: str, runtime: RuntimeDep, session: SessionDep, me: PageStaffDep
) -> Response:
    """Carry out one action's form: the command the API's route would run, then back to the dossier."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)
    texts = {name: value for name, value in form.items() if isinstance(value, str)}
    if action not in {item.value for item in FIELDS}:
        return _problem(request, NotFound(f"no action {action}"))
    chosen = domain.Action(action)
    upload = form.get("result_file")
    content = b""
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_RESULT_BYTES + 1)

    async def again(
        status_code: int, errors: dict[str, str] | None = None, problem: str | None = None
    ) -> Response:
        try:
            return await _dossier_view(
                request,
                session,
                me,
                code,
                status_code=status_code,
                errors=errors,
                failed=action,
                values=texts,
                problem=problem,
            )
        except Refusal as exc:
            return _problem(request, exc)

    try:
        command = command_of(chosen, texts)
        if content:
            checked_pdf(content)
    except FormProblems as exc:
        return await again(422, errors={name: say(request, key) for name, key in exc.errors.items()})
    except Refusal as exc:
        return await again(exc.status_code, errors={"result_file": say(request, "form.result_pdf")})
    command = command.model_copy(update={"code": code})
    try:
        async with runtime.db.session() as unit_of_work:
            actor = await actor_named(unit_of_work, me.staff.username)
            stored = None
            if content and isinstance(command, Approve):
                files = result_files_in(runtime.settings.common.data_dir)
                stored = files.save(command.result.name, content)
                command = command.with_result_file(stored)
            dossier = await actions.execute(unit_of_work, runtime.outbox, actor=actor, command=command)
            if stored is not None and stored.sha256 is not None:
                # For the citizen's download from intake's portal, through the results bucket.
                uploads: ObjectUploads = request.app.state.object_uploads
                await uploads.add(
                    unit_of_work, bucket=RESULTS, name=code, sha256=stored.sha256, media_type=PDF
                )
    except domain.StaleRevision:
        return await again(409, problem=say(request, "problem.stale"))
    except Refusal as exc:
        return await again(exc.status_code, problem=exc.message)
    return RedirectResponse(_after(me.staff, DossierPublic.of(dossier), action), status_code=303)


def _after(staff: Staff, dossier: DossierPublic, action: str) -> str:
    """Back to the dossier, or to the worklist when it has moved out of the officer's reach."""
    if staff.in_scope(agency_code=dossier.current_agency_code, unit_code=dossier.current_unit_code):
        return f"/dossiers/{dossier.code}?" + urlencode({"done": action})
    return "/?" + urlencode({"done": action, "code": dossier.code})


@router.get("/dossiers/{code}/result.pdf", response_class=Response)
async def result_file(code: str, runtime: RuntimeDep, session: SessionDep, me: PageStaffDep) -> Response:
    """The electronic result attached at approval, for staff who may see the dossier."""
    dossier = await api.get_dossier(code, session, me.staff)
    digest = (dossier.result or {}).get("sha256")
    if not dossier.electronic_result or not isinstance(digest, str):
        raise NotFound(f"dossier {code} has no electronic result")
    content = result_files_in(runtime.settings.common.data_dir).read(digest)
    headers = {
        "Content-Disposition": f'attachment; filename="{code}.pdf"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type="application/pdf", headers=headers)


def body_cap(json_cap: int) -> BodyCap:
    """Every request keeps processing's JSON cap but the approval's form, which may carry a result PDF."""
    form_cap = MAX_RESULT_BYTES + 64 * 1024

    def cap(scope: Scope) -> int:
        path: str = scope.get("path", "")
        return form_cap if path.startswith("/dossiers/") and path.endswith("/actions/approve") else json_cap

    return cap
