"""Intake's public HTTP API: the catalog, submission with documents, the receipt, status lookup and
the citizen's actions on a dossier (supplement, withdrawal, rating).

Everything with personal data, and every action, needs a citizen session: the CCCD is the token's
(services/intake/citizen_api.py). Another citizen's token gets the same 404 whether the dossier
exists or not, and what the citizen reads is never cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Scope

from services.intake import dossiers, receipt
from services.intake.citizen_api import NO_STORE, CitizenIdNumber, NoStore
from services.intake.files import MIB, FileSettings, FileStore, Upload, UploadRejected, inspect_upload
from services.intake.models import Dossier
from shared.body_limit import BodyCap, is_multipart
from shared.events import ProcedureVersion
from shared.http import RuntimeDep, SessionDep
from shared.runtime import ServiceRuntime

router = APIRouter(prefix="/api/v1")

NOT_FOUND = "no dossier with this code and CCCD number"
# A JSON body or a text field of a form carries metadata only.
TEXT_LIMIT = MIB
DOCUMENT_PART = re.compile(r"^document_(\d{1,3})$")
MAX_DOCUMENTS = 50

M = TypeVar("M", bound=BaseModel)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid citizen session: Authorization: Bearer <citizen token>"},
    404: {"description": "no dossier with this code and CCCD"},
    409: {"description": "the dossier's state does not allow this now; detail says why"},
    413: {"description": "a file, the dossier's files together, or the request is too large"},
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _ERRORS[code] for code in codes}


Loc = tuple[str | int, ...]


def file_settings(request: Request) -> FileSettings:
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


def _store(runtime: ServiceRuntime, limits: FileSettings) -> FileStore:
    return FileStore.in_data_dir(runtime.settings.common.data_dir, limits)


def _error(code: int, loc: Loc, message: str, kind: str = "value_error") -> HTTPException:
    # The same shape FastAPI uses for schema errors, so clients read one format.
    return HTTPException(code, [{"loc": list(loc), "msg": message, "type": kind}])


def _invalid(loc: Loc, message: str) -> HTTPException:
    return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, loc, message)


def _too_large(loc: Loc, message: str) -> HTTPException:
    return _error(status.HTTP_413_CONTENT_TOO_LARGE, loc, message, "too_large")


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND, headers=NO_STORE)


def _validation_error(exc: ValidationError, loc: Loc) -> RequestValidationError:
    return RequestValidationError(
        [{**error, "loc": (*loc, *error["loc"])} for error in exc.errors(include_url=False)]
    )


def _parse_json(model: type[M], raw: str | bytes, loc: Loc) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _validation_error(exc, loc) from exc


def _parse_data(model: type[M], data: Mapping[str, Any], loc: Loc) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, loc) from exc


# -- request bodies ----------------------------------------------------------------------------
def _is_multipart(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "multipart/form-data"


async def _body_chunks(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(("body",), f"the request is larger than the {limit} bytes allowed")
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _too_large(("body",), f"the request is larger than the {limit} bytes allowed")
        yield chunk


async def _json_body(request: Request, model: type[M]) -> M:
    raw = b"".join([chunk async for chunk in _body_chunks(request, TEXT_LIMIT)])
    return _parse_json(model, raw, ("body",))


@asynccontextmanager
async def _multipart(request: Request, limits: FileSettings) -> AsyncIterator[FormData]:
    """The parsed form: file parts are spooled to temporary files (in memory up to 1 MiB each),
    the whole request bounded by the per-dossier limit; they are removed when the block ends."""
    async with aclosing(_body_chunks(request, limits.request_budget())) as chunks:
        parser = MultiPartParser(
            request.headers, chunks, max_files=MAX_DOCUMENTS, max_fields=10, max_part_size=TEXT_LIMIT
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from exc
    try:
        yield form
    finally:
        await form.close()


async def _split_form(
    form: FormData, *, fields: frozenset[str]
) -> tuple[dict[str, str], dict[int, tuple[str, UploadFile]]]:
    """The text fields by name, and the file parts ``document_{i}`` by index ``i``."""
    texts: dict[str, str] = {}
    parts: dict[int, tuple[str, UploadFile]] = {}
    for name, value in form.multi_items():
        match = DOCUMENT_PART.match(name)
        if match is not None:
            if not isinstance(value, UploadFile):
                raise _invalid(("body", name), f"{name} must be a file part (with a filename)")
            index = int(match.group(1))
            if index in parts:
                raise _invalid(("body", name), f"a file for document {index} is sent more than once")
            parts[index] = (name, value)
        elif name in fields:
            if name in texts:
                raise _invalid(("body", name), f"{name} is sent more than once")
            texts[name] = value if isinstance(value, str) else await _text_of(name, value)
        else:
            expected = ", ".join(sorted(fields))
            raise _invalid(("body", name), f"unexpected part {name!r}; expected {expected} and document_0, …")
    return texts, parts


async def _text_of(name: str, upload: UploadFile) -> str:
    raw = await upload.read(TEXT_LIMIT + 1)
    if len(raw) > TEXT_LIMIT:
        raise _too_large(("body", name), f"{name} is larger than the {TEXT_LIMIT} bytes allowed")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(("body", name), f"{name} is not UTF-8 text") from exc


async def _inspect(parts: Mapping[int, tuple[str, UploadFile]], limits: FileSettings) -> dict[int, Upload]:
    """Check every file by its content and size, in index order, against what the dossier has left."""
    uploads: dict[int, Upload] = {}
    budget = limits.max_dossier_bytes
    for index, (name, upload) in sorted(parts.items()):
        try:
            checked = await inspect_upload(
                part=name, filename=upload.filename, source=upload, settings=limits, budget_left=budget
            )
        except UploadRejected as exc:
            raise (_too_large if exc.too_large else _invalid)(("body", exc.part), str(exc)) from exc
        budget -= checked.size
        uploads[index] = checked
    return uploads


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined, to sit inside the OpenAPI document."""
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_FILE_PART = {
    "type": "string",
    "format": "binary",
    "description": "the file of documents[i], as part document_{i}: PDF, PNG, JPEG or TIFF by content",
}


def _body(model: type[BaseModel], form_fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(model.model_json_schema())},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": {**form_fields, "document_0": _FILE_PART},
                        "additionalProperties": _FILE_PART,
                    }
                },
            },
        }
    }


SUBMISSION_BODY = _body(
    dossiers.SubmissionIn,
    {"dossier": {"type": "string", "description": "the submission as JSON, as in the JSON body"}},
    ["dossier"],
)
SUPPLEMENT_BODY = _body(
    dossiers.SupplementIn,
    {
        "note": {"type": "string"},
        "documents": {"type": "string", "description": 'JSON list: [{"name": …, "kind": …}, …]'},
    },
    [],
)


# -- catalog ------------------------------------------------------------------------------------
@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[ProcedureVersion]:
    return await dossiers.current_procedures(session)


@router.get("/procedures/{code}", tags=["catalog"])
async def get_procedure(code: str, session: SessionDep) -> ProcedureVersion:
    procedure = await dossiers.current_procedure(session, code=code)
    if procedure is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"procedure {code} not found")
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
) -> dict[str, Any]:
    """Submit a dossier; it gets its code at once. Either a JSON body, or ``multipart/form-data``
    with the same JSON in the field ``dossier`` and the file of ``documents[i]`` in the part
    ``document_{i}``. Resending the same ``Idempotency-Key`` returns the dossier created the first
    time."""
    key = idempotency_key.strip() if idempotency_key else None
    store = _store(runtime, limits)
    if not _is_multipart(request):
        submission = await _json_body(request, dossiers.SubmissionIn)
        return await _submit(runtime, store, response, submission, key or None, {}, ("body", "documents"))
    async with _multipart(request, limits) as form:
        texts, parts = await _split_form(form, fields=frozenset({"dossier"}))
        if "dossier" not in texts:
            raise _invalid(("body", "dossier"), "the form needs the field dossier: the submission as JSON")
        submission = _parse_json(dossiers.SubmissionIn, texts["dossier"], ("body", "dossier"))
        uploads = await _inspect(parts, limits)
        return await _submit(
            runtime, store, response, submission, key or None, uploads, ("body", "dossier", "documents")
        )


async def _submit(
    runtime: ServiceRuntime,
    store: FileStore,
    response: Response,
    submission: dossiers.SubmissionIn,
    key: str | None,
    uploads: dict[int, Upload],
    documents_loc: Loc,
) -> dict[str, Any]:
    try:
        async with runtime.db.session() as session:
            dossier, created = await dossiers.submit(
                session,
                runtime.outbox,
                store,
                submission=submission,
                idempotency_key=key,
                uploads=uploads,
                documents_loc=documents_loc,
            )
            view = await dossiers.citizen_view(session, dossier)
    except dossiers.SubmissionRejected as exc:
        raise _invalid(exc.loc, str(exc)) from exc
    except dossiers.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its dossier.
        if not key:
            raise
        async with runtime.db.session() as session:
            found = await dossiers.by_idempotency_key(session, key=key)
            if found is None or found.request_fingerprint != dossiers.fingerprint(submission, uploads):
                raise HTTPException(status.HTTP_409_CONFLICT, "Idempotency-Key conflict") from None
            view, created = await dossiers.citizen_view(session, found), False
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return view


# -- what the citizen reads -----------------------------------------------------------------------
@router.get("/dossiers/{code}", tags=["dossiers"], dependencies=[NoStore], responses=_responses(401, 404))
async def lookup_dossier(code: str, session: SessionDep, id_number: CitizenIdNumber) -> dict[str, Any]:
    """The dossier with its documents and history, for its applicant's citizen session."""
    dossier = await dossiers.find_for_citizen(session, code=code, id_number=id_number)
    if dossier is None:
        raise _not_found()
    return await dossiers.citizen_view(session, dossier)


@router.get(
    "/dossiers/{code}/receipt",
    response_class=HTMLResponse,
    tags=["dossiers"],
    responses=_responses(401, 404),
)
async def dossier_receipt(code: str, session: SessionDep, id_number: CitizenIdNumber) -> HTMLResponse:
    """The printable receipt (giấy tiếp nhận hồ sơ và hẹn trả kết quả) with a QR code of the lookup."""
    dossier = await dossiers.find_for_citizen(session, code=code, id_number=id_number)
    if dossier is None:
        raise _not_found()
    html = receipt.render_receipt(
        dossier=dossier,
        procedure=await dossiers.procedure_of(session, dossier),
        documents=await dossiers.documents_of(session, code=code),
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
) -> dict[str, Any]:
    """Send what the officer asked for, while the dossier awaits a supplement (status 5). JSON
    ``{note?, documents}``, or a form with the fields ``note`` and ``documents`` (a JSON list) and
    the file of ``documents[i]`` in the part ``document_{i}``."""
    store = _store(runtime, limits)
    if not _is_multipart(request):
        supplement = await _json_body(request, dossiers.SupplementIn)
        return await _supplement(runtime, store, code, id_number, supplement, {})
    async with _multipart(request, limits) as form:
        texts, parts = await _split_form(form, fields=frozenset({"note", "documents"}))
        data: dict[str, Any] = {"note": texts.get("note")}
        if "documents" in texts:
            try:
                data["documents"] = json.loads(texts["documents"])
            except json.JSONDecodeError as exc:
                raise _invalid(("body", "documents"), f"documents is not a JSON list: {exc}") from exc
        supplement = _parse_data(dossiers.SupplementIn, data, ("body",))
        uploads = await _inspect(parts, limits)
        return await _supplement(runtime, store, code, id_number, supplement, uploads)


async def _supplement(
    runtime: ServiceRuntime,
    store: FileStore,
    code: str,
    id_number: str,
    supplement: dossiers.SupplementIn,
    uploads: dict[int, Upload],
) -> dict[str, Any]:
    try:
        async with runtime.db.session() as session:
            dossier = await _own_dossier(session, code, id_number)
            await dossiers.provide_supplement(
                session,
                runtime.outbox,
                store,
                dossier=dossier,
                supplement=supplement,
                uploads=uploads,
                documents_loc=("body", "documents"),
            )
            return await dossiers.citizen_view(session, dossier)
    except dossiers.SubmissionRejected as exc:
        raise _invalid(exc.loc, str(exc)) from exc
    except dossiers.ActionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post(
    "/dossiers/{code}/withdrawal",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["dossiers"],
    responses=_responses(401, 404, 409),
)
async def request_withdrawal(
    code: str, body: dossiers.WithdrawalIn, runtime: RuntimeDep, id_number: CitizenIdNumber
) -> dict[str, Any]:
    """Ask to withdraw the dossier (rút hồ sơ), once, until it is resolved; processing confirms."""
    try:
        async with runtime.db.session() as session:
            dossier = await _own_dossier(session, code, id_number)
            await dossiers.request_withdrawal(session, runtime.outbox, dossier=dossier, reason=body.reason)
            return await dossiers.citizen_view(session, dossier)
    except dossiers.ActionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post(
    "/dossiers/{code}/rating",
    status_code=status.HTTP_201_CREATED,
    tags=["dossiers"],
    responses=_responses(401, 404, 409),
)
async def rate_dossier(
    code: str, body: dossiers.RatingIn, runtime: RuntimeDep, id_number: CitizenIdNumber
) -> dict[str, Any]:
    """Rate the service once the result is returned (status 10): very_satisfied, satisfied, or
    dissatisfied with a reason."""
    try:
        async with runtime.db.session() as session:
            dossier = await _own_dossier(session, code, id_number)
            await dossiers.rate(
                session, runtime.outbox, dossier=dossier, rating=body.rating, reason=body.reason
            )
            return await dossiers.citizen_view(session, dossier)
    except dossiers.ActionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


async def _own_dossier(session: AsyncSession, code: str, id_number: str) -> Dossier:
    dossier = await dossiers.find_for_citizen(session, code=code, id_number=id_number, for_update=True)
    if dossier is None:
        raise _not_found()
    return dossier
