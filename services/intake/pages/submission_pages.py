"""The portal's submission: a form with the applicant's fields and one file per document of the
procedure, checked by the same code as ``POST /api/v1/dossiers`` (the schema, the upload checks,
``submission.submit``); then the receipt, on screen and printable.

A form that comes back with errors keeps every field typed; the browser cannot keep chosen files,
and the page says so. A hidden idempotency key makes a double click, or the back button and a
second send, give the same dossier.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import catalog, receipt, views
from services.intake.api import FileSettingsDep, file_store, submit_and_view
from services.intake.documents import documents_of
from services.intake.models import Dossier
from services.intake.pages.errors import FORM, field_errors, refusal_errors
from services.intake.pages.session import citizen_id_number, receipt_allowed, remember_receipt, to_lookup
from services.intake.request_bodies import inspect_uploads, is_multipart_request, multipart, split_form
from services.intake.schemas import SubmissionIn
from shared.errors import Refusal
from shared.events import ProcedureVersion
from shared.http import RuntimeDep, SessionDep
from shared.pages import CSRF_FIELD, message, render, require_csrf

router = APIRouter(tags=["portal"])

APPLICANT_FIELDS: Final = ("full_name", "id_number", "phone", "email", "address")
KEY_FIELD: Final = "idempotency_key"
FORM_FIELDS: Final = frozenset({*APPLICANT_FIELDS, KEY_FIELD, CSRF_FIELD})
NO_STORE: Final = {"Cache-Control": "no-store"}
# The printable receipt is the official template, with its own styles and its print button.
PRINT_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "script-src 'unsafe-hashes' 'sha256-MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU='; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def submit_path(code: str) -> str:
    return f"/procedures/{code}/submit"


def _form(
    request: Request,
    procedure: ProcedureVersion,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "portal/submit.html.j2",
        status_code=status_code,
        headers=NO_STORE,
        procedure=procedure,
        values=values,
        errors=errors,
        key=values.get(KEY_FIELD) or f"portal-{uuid.uuid4()}",
        action=submit_path(procedure.code),
    )


@router.get("/procedures/{code}/submit", response_class=HTMLResponse)
async def submission_form(request: Request, code: str, session: SessionDep) -> HTMLResponse:
    """The submission form of a procedure: the applicant, and a file for each document."""
    procedure = await catalog.current_procedure(session, code=code)
    if procedure is None:
        return render(request, "portal/not_found.html.j2", status_code=404)
    return _form(request, procedure, values={}, errors={})


@router.post("/procedures/{code}/submit", response_class=HTMLResponse)
async def submit_from_form(
    request: Request, code: str, runtime: RuntimeDep, limits: FileSettingsDep
) -> Response:
    """Submit the form (``multipart/form-data``): 303 to the receipt, or the form again with each
    error beside its field."""
    async with runtime.db.reading() as session:
        procedure = await catalog.current_procedure(session, code=code)
    if procedure is None:
        return render(request, "portal/not_found.html.j2", status_code=404)
    if not is_multipart_request(request):
        return _form(
            request,
            procedure,
            values={},
            errors={FORM: message(request, "portal.errors._form")},
            status_code=422,
        )
    try:
        async with multipart(request, limits) as form:
            texts, parts = await split_form(form, fields=FORM_FIELDS)
            require_csrf(request, texts.get(CSRF_FIELD))
            values = {name: texts.get(name, "") for name in (*APPLICANT_FIELDS, KEY_FIELD)}
            # A document's file input left empty sends a part without a file name: no file.
            chosen = {
                index: part
                for index, part in parts.items()
                if part[1].filename and index < len(procedure.documents)
            }
            positions = sorted(chosen)
            errors: dict[str, str] = {}
            submission = None
            try:
                submission = SubmissionIn.model_validate(
                    {
                        "procedure_code": procedure.code,
                        "applicant": {name: values[name] for name in APPLICANT_FIELDS},
                        "documents": [{"name": procedure.documents[i].name} for i in positions],
                        "channel": "online",
                    }
                )
            except ValidationError as exc:
                errors.update(field_errors(request, exc))
            try:
                checked = await inspect_uploads(chosen, limits)
            except HTTPException as exc:
                errors.update(refusal_errors(request, exc.detail))
                checked = {}
            if submission is None or errors:
                return _form(request, procedure, values=values, errors=errors, status_code=422)
            # The API's indexes are those of the submission's documents, not of the procedure's.
            uploads = {position: checked[index] for position, index in enumerate(positions)}
            key = values[KEY_FIELD][:255] or None
            try:
                view = await submit_and_view(
                    runtime,
                    file_store(runtime, limits),
                    Response(),
                    submission,
                    key,
                    uploads,
                    ("body", "documents"),
                )
            except Refusal as exc:
                errors = refusal_errors(request, exc)
                return _form(request, procedure, values=values, errors=errors, status_code=422)
    except HTTPException as exc:
        # The request itself was refused before any field could be read (too large, malformed).
        return _form(
            request, procedure, values={}, errors=refusal_errors(request, exc.detail), status_code=422
        )
    answer = RedirectResponse(f"/receipt/{view.code}", status_code=303)
    remember_receipt(answer, request, view.code)
    return answer


async def _receipt_dossier(request: Request, session: AsyncSession, code: str) -> Dossier | None:
    """The dossier whose receipt the caller may read: the one they just submitted, or one of the
    citizen's whose session is open."""
    if receipt_allowed(request, code):
        return await session.get(Dossier, code)
    id_number = citizen_id_number(request)
    if id_number is None:
        return None
    return await views.find_for_citizen(session, code=code, id_number=id_number)


@router.get("/receipt/{code}", response_class=HTMLResponse)
async def receipt_page(request: Request, code: str, session: SessionDep) -> Response:
    """The receipt on screen: the code, the appointment and the documents; without the right to
    read it, the look-up."""
    dossier = await _receipt_dossier(request, session, code)
    if dossier is None:
        return to_lookup(code)
    procedure = await catalog.procedure_of(session, dossier)
    context: dict[str, Any] = {
        "dossier": await views.citizen_view(session, dossier),
        "procedure": procedure,
        "fee": procedure.fee if procedure else "",
    }
    return render(request, "portal/receipt.html.j2", headers=NO_STORE, **context)


@router.get("/receipt/{code}/print", response_class=HTMLResponse)
async def printable_receipt(request: Request, code: str, session: SessionDep) -> Response:
    """The official receipt to print (giấy tiếp nhận hồ sơ và hẹn trả kết quả)."""
    dossier = await _receipt_dossier(request, session, code)
    if dossier is None:
        return to_lookup(code)
    html = receipt.render_receipt(
        dossier=dossier,
        procedure=await catalog.procedure_of(session, dossier),
        documents=await documents_of(session, code=code),
        public_url=receipt.ReceiptSettings().public_url,
    )
    headers = {
        **NO_STORE,
        "Content-Security-Policy": PRINT_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)
