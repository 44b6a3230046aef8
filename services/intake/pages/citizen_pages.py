"""The portal's look-up and the citizen's own dossier.

Code plus CCCD, in a POST form, shows the status and the due date (``POST /api/v1/lookup``, with
its rate limits). A one-time code to the dossier's contact then opens a citizen session
(``/api/v1/citizen/one-time-codes`` and ``/sessions``), kept in an HttpOnly, SameSite=Strict cookie;
with it the dossier's page shows the timeline and the forms for a supplement, a withdrawal and a
rating, each CSRF-protected and each the API's own route function underneath.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.intake import citizen_api, views
from services.intake.api import (
    FileSettingsDep,
    file_store,
    rate_dossier,
    request_withdrawal,
    supplement_and_view,
)
from services.intake.citizen_api import DossierKey, OneTimeCodeIn, SessionIn
from services.intake.pages.errors import FORM, field_errors, refusal_errors
from services.intake.pages.session import (
    citizen_id_number,
    citizen_token,
    close_session,
    open_session,
    to_lookup,
)
from services.intake.request_bodies import inspect_uploads, is_multipart_request, multipart, split_form
from services.intake.schemas import RatingIn, SupplementIn, WithdrawalIn
from shared.bus.objects import BusAway, fetch, jetstream_of
from shared.bus.streams import RESULTS
from shared.errors import Refusal
from shared.events import WITHDRAWABLE, DossierStatus
from shared.http import RuntimeDep, runtime_of
from shared.pages import CSRF_FIELD, message, render, require_csrf
from shared.settings import HttpSettings

router = APIRouter(tags=["portal"])

NO_STORE: Final = {"Cache-Control": "no-store"}
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
DossierCode = Annotated[str, Form(max_length=40)]
CANCELLABLE: Final = frozenset(int(state) for state in WITHDRAWABLE)
# What the dossier's page confirms after a form: the action just done.
DONE: Final = frozenset({"supplement", "withdrawal", "rating"})


def _lookup_page(
    request: Request,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str] | None = None,
    found: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "portal/lookup.html.j2",
        status_code=status_code,
        headers=NO_STORE,
        values=values,
        errors=errors or {},
        found=found,
    )


def _refused(request: Request, exc: HTTPException | ValidationError | Refusal) -> dict[str, str]:
    """What a refusal of the API's code says, beside the field it is about."""
    if isinstance(exc, ValidationError):
        return field_errors(request, exc)
    if isinstance(exc, Refusal):
        return refusal_errors(request, exc)
    if exc.status_code == 404:
        return {FORM: message(request, "portal.lookup.not_found")}
    if exc.status_code == 429:
        return {FORM: message(request, "portal.lookup.too_many")}
    if exc.status_code in (401, 410) and isinstance(exc.detail, str):
        return {"otp": message(request, "portal.sign_in.refused") + f" ({exc.detail})"}
    return refusal_errors(request, exc.detail)


# -- look-up and sign-in ----------------------------------------------------------------------------
@router.get("/lookup", response_class=HTMLResponse)
async def lookup_form(
    request: Request, code: Annotated[str, Query(max_length=40, description="the dossier code")] = ""
) -> HTMLResponse:
    """The look-up form: the dossier code (filled in from a receipt) and the CCCD."""
    return _lookup_page(request, values={"code": code})


@router.post("/lookup", response_class=HTMLResponse)
async def lookup(
    request: Request,
    csrf_token: CsrfToken = "",
    code: DossierCode = "",
    id_number: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """Status and due date for a code plus CCCD, and the offer of a one-time code to sign in."""
    require_csrf(request, csrf_token)
    values = {"code": code.strip(), "id_number": id_number.strip()}
    runtime = runtime_of(request)
    try:
        key = DossierKey(code=values["code"], id_number=values["id_number"])
        found = await citizen_api.lookup(
            key,
            request,
            runtime,
            await citizen_api.citizen_settings(request),
            await citizen_api.auth_settings(request),
        )
    except (HTTPException, ValidationError) as exc:
        return _lookup_page(request, values=values, errors=_refused(request, exc), status_code=422)
    return _lookup_page(request, values=values, found=found)


@router.post("/lookup/one-time-code", response_class=HTMLResponse)
async def send_one_time_code(
    request: Request,
    csrf_token: CsrfToken = "",
    code: DossierCode = "",
    id_number: Annotated[str, Form(max_length=20)] = "",
    channel: Annotated[str, Form(max_length=10)] = "sms",
) -> HTMLResponse:
    """Send a one-time code to the dossier's phone or email, and ask for it."""
    require_csrf(request, csrf_token)
    values = {"code": code.strip(), "id_number": id_number.strip()}
    runtime = runtime_of(request)
    try:
        ask = OneTimeCodeIn(
            dossier_code=values["code"],
            id_number=values["id_number"],
            channel="email" if channel == "email" else "sms",
        )
        sent = await citizen_api.send_one_time_code(
            ask,
            request,
            runtime,
            await citizen_api.citizen_settings(request),
            await citizen_api.auth_settings(request),
        )
    except (HTTPException, ValidationError) as exc:
        errors = _refused(request, exc)
        return _lookup_page(request, values=values, errors=errors, status_code=422)
    return _code_page(request, code=values["code"], sent=sent)


def _code_page(
    request: Request, *, code: str, sent: Any, errors: Mapping[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "portal/one_time_code.html.j2",
        status_code=status_code,
        headers=NO_STORE,
        code=code,
        sent=sent,
        errors=errors or {},
        demo_messages=_demo_messages_url(request),
    )


def _demo_messages_url(request: Request) -> str | None:
    """In the demo, where notify lists the SMS and emails it would have sent (the code among them)."""
    if not runtime_of(request).settings.common.demo:
        return None
    http = HttpSettings()
    return f"http://{http.host}:{http.notify_port}/demo/messages"


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    csrf_token: CsrfToken = "",
    code: DossierCode = "",
    challenge_id: Annotated[str, Form(max_length=36)] = "",
    destination: Annotated[str, Form(max_length=100)] = "",
    otp: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Exchange the one-time code for a citizen session, and open the dossier."""
    require_csrf(request, csrf_token)
    runtime = runtime_of(request)
    settings = await citizen_api.citizen_settings(request)
    try:
        opened = await citizen_api.open_session(
            SessionIn(challenge_id=challenge_id, code=otp.strip() or "-"),
            runtime,
            settings,
            await citizen_api.auth_settings(request),
        )
    except (HTTPException, ValidationError) as exc:
        sent = {"challenge_id": challenge_id, "destination": destination}
        return _code_page(request, code=code, sent=sent, errors=_refused(request, exc), status_code=422)
    answer = RedirectResponse(f"/dossiers/{quote(code, safe='')}", status_code=303)
    open_session(answer, request, opened.access_token, minutes=settings.session_minutes)
    return answer


@router.post("/sign-out", response_class=RedirectResponse, status_code=303)
async def sign_out(request: Request, csrf_token: CsrfToken = "") -> RedirectResponse:
    """Close the citizen session."""
    require_csrf(request, csrf_token, binding=citizen_token(request))
    answer = RedirectResponse("/", status_code=303)
    close_session(answer, request)
    return answer


# -- the citizen's own dossier -----------------------------------------------------------------------
async def _dossier_page(
    request: Request,
    code: str,
    id_number: str,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.reading() as session:
        dossier = await views.find_for_citizen(session, code=code, id_number=id_number)
        if dossier is None:
            return render(request, "portal/not_found.html.j2", status_code=404, headers=NO_STORE)
        view = await views.citizen_view(session, dossier)
    state = DossierStatus(view.status)
    return render(
        request,
        "portal/dossier.html.j2",
        status_code=status_code,
        headers=NO_STORE,
        csrf_binding=citizen_token(request),
        dossier=view,
        may_supplement=state == DossierStatus.WAITING and view.supplement_provided_at is None,
        may_withdraw=view.status in CANCELLABLE and view.withdrawal_requested_at is None,
        may_rate=state == DossierStatus.DONE and view.rating is None,
        done=request.query_params.get("done") if request.query_params.get("done") in DONE else "",
        errors=errors or {},
        values=values or {},
    )


@router.get("/dossiers/{code}", response_class=HTMLResponse)
async def dossier_page(
    request: Request,
    code: str,
    done: Annotated[str, Query(max_length=20, description="the action just done")] = "",
) -> Response:
    """The citizen's dossier with its timeline and what they may do now; the look-up without a
    session."""
    id_number = citizen_id_number(request)
    if id_number is None:
        return to_lookup(code)
    return await _dossier_page(request, code, id_number)


@router.get("/dossiers/{code}/result.pdf", response_class=Response)
async def result_file(request: Request, code: str) -> Response:
    """The electronic result (kết quả điện tử), for the applicant's citizen session only, from the
    results bucket where processing puts it (``shared.bus.objects``)."""
    id_number = citizen_id_number(request)
    if id_number is None:
        return render(request, "portal/not_found.html.j2", status_code=404, headers=NO_STORE)
    runtime = runtime_of(request)
    async with runtime.db.reading() as session:
        dossier = await views.find_for_citizen(session, code=code, id_number=id_number)
    if dossier is None or dossier.result_name is None or not dossier.result_electronic:
        return render(request, "portal/not_found.html.j2", status_code=404, headers=NO_STORE)
    try:
        stored = await fetch(jetstream_of(runtime), RESULTS, code)
    except BusAway:
        stored = None
    if stored is None:
        # Not in the bucket yet (processing puts it there in the background), or NATS is away.
        later = {FORM: message(request, "portal.dossier.result_later")}
        return await _dossier_page(request, code, id_number, errors=later, status_code=503)
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{quote(code, safe="")}.pdf"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(stored.content, media_type="application/pdf", headers=headers)


def _done(code: str, action: str) -> RedirectResponse:
    return RedirectResponse(f"/dossiers/{quote(code, safe='')}?done={action}", status_code=303)


@router.post("/dossiers/{code}/supplement", response_class=HTMLResponse)
async def send_supplement(
    request: Request, code: str, runtime: RuntimeDep, limits: FileSettingsDep
) -> Response:
    """Send the supplement asked for (``multipart/form-data``: a note and a file per item)."""
    id_number = citizen_id_number(request)
    if id_number is None:
        return to_lookup(code)
    values: dict[str, str] = {}
    if not is_multipart_request(request):
        errors = {FORM: message(request, "portal.errors._form")}
        return await _dossier_page(request, code, id_number, errors=errors, status_code=422)
    try:
        async with multipart(request, limits) as form:
            texts, parts = await split_form(form, fields=frozenset({"note", CSRF_FIELD}))
            require_csrf(request, texts.get(CSRF_FIELD), binding=citizen_token(request))
            values = {"note": texts.get("note", "")}
            async with runtime.db.reading() as session:
                dossier = await views.find_for_citizen(session, code=code, id_number=id_number)
            items = (dossier.supplement_items or []) if dossier is not None else []
            chosen = {index: part for index, part in parts.items() if part[1].filename and index < len(items)}
            positions = sorted(chosen)
            supplement = SupplementIn.model_validate(
                {"note": values["note"] or None, "documents": [{"name": items[i]} for i in positions]}
            )
            checked = await inspect_uploads(chosen, limits)
            uploads = {position: checked[index] for position, index in enumerate(positions)}
            await supplement_and_view(
                runtime, file_store(runtime, limits), code, id_number, supplement, uploads
            )
    except (HTTPException, ValidationError, Refusal) as exc:
        return await _dossier_page(
            request, code, id_number, errors=_refused(request, exc), values=values, status_code=422
        )
    return _done(code, "supplement")


async def _act(
    request: Request,
    code: str,
    csrf_token: str,
    *,
    done: str,
    values: Mapping[str, str],
    act: Callable[[str], Awaitable[object]],
    fields: Mapping[str, str] | None = None,
) -> Response:
    """One of the citizen's forms on their dossier: the session, the CSRF token, then ``act`` with
    the session's CCCD; its refusals come back beside their fields (``fields`` renames the API's
    field names to the form's)."""
    id_number = citizen_id_number(request)
    if id_number is None:
        return to_lookup(code)
    require_csrf(request, csrf_token, binding=citizen_token(request))
    try:
        await act(id_number)
    except (HTTPException, ValidationError, Refusal) as exc:
        renamed = fields or {}
        errors = {renamed.get(field, field): text for field, text in _refused(request, exc).items()}
        return await _dossier_page(request, code, id_number, errors=errors, values=values, status_code=422)
    return _done(code, done)


@router.post("/dossiers/{code}/withdrawal", response_class=HTMLResponse)
async def withdraw(
    request: Request,
    code: str,
    csrf_token: CsrfToken = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Ask to withdraw the dossier."""

    async def act(id_number: str) -> object:
        body = WithdrawalIn(reason=reason.strip() or None)
        return await request_withdrawal(code, body, runtime_of(request), id_number)

    return await _act(request, code, csrf_token, done="withdrawal", values={"reason": reason}, act=act)


@router.post("/dossiers/{code}/rating", response_class=HTMLResponse)
async def rate(
    request: Request,
    code: str,
    csrf_token: CsrfToken = "",
    rating: Annotated[str, Form(max_length=20)] = "",
    rating_reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Rate the service once the result is in hand."""

    async def act(id_number: str) -> object:
        body = RatingIn.model_validate({"rating": rating, "reason": rating_reason})
        return await rate_dossier(code, body, runtime_of(request), id_number)

    values = {"rating": rating, "rating_reason": rating_reason}
    return await _act(
        request, code, csrf_token, done="rating", values=values, act=act, fields={"reason": "rating_reason"}
    )
