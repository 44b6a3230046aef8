"""Intake's public HTTP API: the catalog, submission with documents, the receipt, status lookup and
the citizen's actions on a dossier (supplement, withdrawal, rating).

Everything with personal data, and every action, needs a citizen session: the CCCD is the token's
(services/intake/citizen_api.py). Another citizen's token gets the same 404 whether the dossier
exists or not, and what the citizen reads is never cached.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import Scope

from services.intake import catalog, citizen_actions, receipt, views
from services.intake.citizen_api import NO_STORE, CitizenIdNumber, NoStore, not_found
from services.intake.documents import documents_of
from services.intake.files import FileSettings, FileStore, Upload
from services.intake.models import Dossier
from services.intake.request_bodies import (
    SUBMISSION_BODY,
    SUPPLEMENT_BODY,
    inspect_uploads,
    invalid,
    is_multipart_request,
    json_body,
    multipart,
    parse_data,
    parse_json,
    split_form,
)
from services.intake.schemas import DossierPublic, Loc, RatingIn, SubmissionIn, SupplementIn, WithdrawalIn
from services.intake.submission import by_idempotency_key, fingerprint, submit
from shared.body_limit import BodyCap, is_multipart
from shared.errors import Conflict, NotFound
from shared.events import ProcedureVersion
from shared.http import RuntimeDep, SessionDep
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/api/v1")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid citizen session: Authorization: Bearer <citizen token>"},
    404: {"description": "no dossier with this code and CCCD"},
    409: {"description": "the dossier's state does not allow this now; detail says why"},
    413: {"description": "a file, the dossier's files together, or the request is too large"},
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _ERRORS[code] for code in codes}


async def file_settings(request: Request) -> FileSettings:
    """The upload limits: set on the app's state, or read from ``MOTCUA_INTAKE_FILES_*``."""
    configured = getattr(request.app.state, "intake_file_settings", None)
    return configured if isinstance(configured, FileSettings) else FileSettings()


FileSettingsDep = Annotated[FileSettings, Depends(file_settings)]

# The routes that take files: their multipart bodies are bounded by the upload limits, not the JSON cap.
_UPLOAD_PATH = re.compile(r"^/api/v1/dossiers(/[^/]+/supplements)?/?$")


def upload_cap(json_cap: int) -> BodyCap:
    """The body cap for intake: a multipart POST to an upload route may carry a whole dossier's
    files (``FileSettings.request_budget``); every other request ``json_cap`` bytes."""

    def cap(scope: Scope) -> int:
        if scope["method"] == "POST" and _UPLOAD_PATH.match(scope["path"]) and is_multipart(scope):
            configured = getattr(scope["app"].state, "intake_file_settings", None)
            limits = configured if isinstance(configured, FileSettings) else FileSettings()
            return limits.request_budget()
        return json_cap

    return cap


def file_store(runtime: ServiceRuntime, limits: FileSettings) -> FileStore:
    """Where the service keeps uploaded documents (the API and the portal alike)."""
    return FileStore.in_data_dir(runtime.settings.common.data_dir, limits)


# -- catalog ------------------------------------------------------------------------------------
@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await catalog.current_procedures(session)


@router.get("/procedures/{code}", tags=["catalog"])
async def get_procedure(code: str, session: SessionDep) -> ProcedureVersion:
    procedure = await catalog.current_procedure(session, code=code)
    if procedure is None:
        raise NotFound(f"procedure {code} not found")
    return procedure


# -- submission ---------------------------------------------------------------------------------
@router.post(
    "/dossiers",
    status_code=status.HTTP_201_CREATED,
    tags=["dossiers"],
    openapi_extra=SUBMISSION_BODY,
    responses={**_responses(413), 409: {"description": "Idempotency-Key reused for another request"}},
)
async def submit_dossier(
    request: Request,
    runtime: RuntimeDep,
    limits: FileSettingsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> DossierPublic:
    """Submit a dossier; it gets its code at once. Either a JSON body, or ``multipart/form-data``
    with the same JSON in the field ``dossier`` and the file of ``documents[i]`` in the part
    ``document_{i}``. Resending the same ``Idempotency-Key`` returns the dossier created the first
    time."""
    key = idempotency_key.strip() if idempotency_key else None
    store = file_store(runtime, limits)
    if not is_multipart_request(request):
        submission = await json_body(request, SubmissionIn)
        return await submit_and_view(
            runtime, store, response, submission, key or None, {}, ("body", "documents")
        )
    async with multipart(request, limits) as form:
        texts, parts = await split_form(form, fields=frozenset({"dossier"}))
        if "dossier" not in texts:
            raise invalid(("body", "dossier"), "the form needs the field dossier: the submission as JSON")
        submission = parse_json(SubmissionIn, texts["dossier"], ("body", "dossier"))
        uploads = await inspect_uploads(parts, limits)
        return await submit_and_view(
            runtime, store, response, submission, key or None, uploads, ("body", "dossier", "documents")
        )


async def submit_and_view(
    runtime: ServiceRuntime,
    store: FileStore,
    response: Response,
    submission: SubmissionIn,
    key: str | None,
    uploads: dict[int, Upload],
    documents_loc: Loc,
) -> DossierPublic:
    """Submit ``submission`` with its checked ``uploads`` and answer the citizen's view of the
    dossier; a replayed ``key`` answers the first dossier (200 and ``Idempotent-Replayed``)."""
    try:
        async with runtime.db.session() as session:
            dossier, created = await submit(
                session,
                runtime.outbox,
                store,
                submission=submission,
                idempotency_key=key,
                uploads=uploads,
                documents_loc=documents_loc,
            )
            view = await views.citizen_view(session, dossier)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its dossier.
        if not key:
            raise
        async with runtime.db.session() as session:
            found = await by_idempotency_key(session, key=key)
            if found is None or found.request_fingerprint != fingerprint(submission, uploads):
                raise Conflict("Idempotency-Key conflict") from None
            view, created = await views.citizen_view(session, found), False
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return view


# -- what the citizen reads -----------------------------------------------------------------------
@router.get("/dossiers/{code}", tags=["dossiers"], dependencies=[NoStore], responses=_responses(401, 404))
async def lookup_dossier(code: str, session: SessionDep, id_number: CitizenIdNumber) -> DossierPublic:
    """The dossier with its documents and history, for its applicant's citizen session."""
    view = await views.look_up(session, code=code, id_number=id_number)
    if view is None:
        raise not_found()
    return view


@router.get(
    "/dossiers/{code}/receipt",
    response_class=HTMLResponse,
    tags=["dossiers"],
    responses=_responses(401, 404),
)
async def dossier_receipt(code: str, session: SessionDep, id_number: CitizenIdNumber) -> HTMLResponse:
    """The printable receipt (giấy tiếp nhận hồ sơ và hẹn trả kết quả) with a QR code of the lookup."""
    dossier = await views.find_for_citizen(session, code=code, id_number=id_number)
    if dossier is None:
        raise not_found()
    html = receipt.render_receipt(
        dossier=dossier,
        procedure=await catalog.procedure_of(session, dossier),
        documents=await documents_of(session, code=code),
        public_url=receipt.ReceiptSettings().public_url,
    )
    return HTMLResponse(html, headers=NO_STORE)


# -- the citizen's actions ------------------------------------------------------------------------
@router.post(
    "/dossiers/{code}/supplements",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["dossiers"],
    openapi_extra=SUPPLEMENT_BODY,
    responses=_responses(401, 404, 409, 413),
)
async def send_supplement(
    code: str, request: Request, runtime: RuntimeDep, limits: FileSettingsDep, id_number: CitizenIdNumber
) -> DossierPublic:
    """Send what the officer asked for, while the dossier awaits a supplement (status 5). JSON
    ``{note?, documents}``, or a form with the fields ``note`` and ``documents`` (a JSON list) and
    the file of ``documents[i]`` in the part ``document_{i}``."""
    store = file_store(runtime, limits)
    if not is_multipart_request(request):
        supplement = await json_body(request, SupplementIn)
        return await supplement_and_view(runtime, store, code, id_number, supplement, {})
    async with multipart(request, limits) as form:
        texts, parts = await split_form(form, fields=frozenset({"note", "documents"}))
        data: dict[str, Any] = {"note": texts.get("note")}
        if "documents" in texts:
            try:
                data["documents"] = json.loads(texts["documents"])
            except json.JSONDecodeError as exc:
                raise invalid(("body", "documents"), f"documents is not a JSON list: {exc}") from exc
        supplement = parse_data(SupplementIn, data, ("body",))
        uploads = await inspect_uploads(parts, limits)
        return await supplement_and_view(runtime, store, code, id_number, supplement, uploads)


async def supplement_and_view(
    runtime: ServiceRuntime,
    store: FileStore,
    code: str,
    id_number: str,
    supplement: SupplementIn,
    uploads: dict[int, Upload],
) -> DossierPublic:
    """Record the citizen's supplement to their own dossier and answer the citizen's view of it."""
    async with runtime.db.session() as session:
        dossier = await _own_dossier(session, code, id_number)
        await citizen_actions.provide_supplement(
            session,
            runtime.outbox,
            store,
            dossier=dossier,
            supplement=supplement,
            uploads=uploads,
            documents_loc=("body", "documents"),
        )
        return await views.citizen_view(session, dossier)


@router.post(
    "/dossiers/{code}/withdrawal",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["dossiers"],
    responses=_responses(401, 404, 409),
)
async def request_withdrawal(
    code: str, body: WithdrawalIn, runtime: RuntimeDep, id_number: CitizenIdNumber
) -> DossierPublic:
    """Ask to withdraw the dossier (rút hồ sơ), once, until it is resolved; processing confirms."""
    async with runtime.db.session() as session:
        dossier = await _own_dossier(session, code, id_number)
        await citizen_actions.request_withdrawal(session, runtime.outbox, dossier=dossier, reason=body.reason)
        return await views.citizen_view(session, dossier)


@router.post(
    "/dossiers/{code}/rating",
    status_code=status.HTTP_201_CREATED,
    tags=["dossiers"],
    responses=_responses(401, 404, 409),
)
async def rate_dossier(
    code: str, body: RatingIn, runtime: RuntimeDep, id_number: CitizenIdNumber
) -> DossierPublic:
    """Rate the service once the result is returned (status 10): very_satisfied, satisfied, or
    dissatisfied with a reason."""
    async with runtime.db.session() as session:
        dossier = await _own_dossier(session, code, id_number)
        await citizen_actions.rate(
            session, runtime.outbox, dossier=dossier, rating=body.rating, reason=body.reason
        )
        return await views.citizen_view(session, dossier)


async def _own_dossier(session: AsyncSession, code: str, id_number: str) -> Dossier:
    dossier = await views.find_for_citizen(session, code=code, id_number=id_number, for_update=True)
    if dossier is None:
        raise not_found()
    return dossier
