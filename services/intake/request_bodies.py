"""Intake's request bodies: JSON, or a form whose ``document_{i}`` parts carry the files, each
read within its limit and checked before any rule runs; and their OpenAPI descriptions."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.intake.files import MIB, FileSettings, Upload, UploadRejected, inspect_upload
from services.intake.schemas import Loc, SubmissionIn, SupplementIn

# A JSON body or a text field of a form carries metadata only.
TEXT_LIMIT = MIB
DOCUMENT_PART = re.compile(r"^document_(\d{1,3})$")
MAX_DOCUMENTS = 50

M = TypeVar("M", bound=BaseModel)


def _error(code: int, loc: Loc, message: str, kind: str = "value_error") -> HTTPException:
    # The same shape FastAPI uses for schema errors, so clients read one format.
    return HTTPException(code, [{"loc": list(loc), "msg": message, "type": kind}])


def invalid(loc: Loc, message: str) -> HTTPException:
    return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, loc, message)


def too_large(loc: Loc, message: str) -> HTTPException:
    return _error(status.HTTP_413_CONTENT_TOO_LARGE, loc, message, "too_large")


def _validation_error(exc: ValidationError, loc: Loc) -> RequestValidationError:
    errors = []
    for error in exc.errors(include_url=False):
        error = {**error, "loc": (*loc, *error["loc"])}
        if isinstance(error.get("input"), bytes):
            # A body that is not JSON comes back as sent, which need not be UTF-8.
            error["input"] = error["input"].decode("utf-8", errors="replace")
        errors.append(error)
    return RequestValidationError(errors)


def parse_json(model: type[M], raw: str | bytes, loc: Loc) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _validation_error(exc, loc) from exc


def parse_data(model: type[M], data: Mapping[str, Any], loc: Loc) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, loc) from exc


# -- request bodies ----------------------------------------------------------------------------
def is_multipart_request(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "multipart/form-data"


async def _body_chunks(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(("body",), f"the request is larger than the {limit} bytes allowed")
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise too_large(("body",), f"the request is larger than the {limit} bytes allowed")
        yield chunk


async def json_body(request: Request, model: type[M]) -> M:
    raw = b"".join([chunk async for chunk in _body_chunks(request, TEXT_LIMIT)])
    return parse_json(model, raw, ("body",))


@asynccontextmanager
async def multipart(request: Request, limits: FileSettings) -> AsyncIterator[FormData]:
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


async def split_form(
    form: FormData, *, fields: frozenset[str]
) -> tuple[dict[str, str], dict[int, tuple[str, UploadFile]]]:
    """The text fields by name, and the file parts ``document_{i}`` by index ``i``."""
    texts: dict[str, str] = {}
    parts: dict[int, tuple[str, UploadFile]] = {}
    for name, value in form.multi_items():
        match = DOCUMENT_PART.match(name)
        if match is not None:
            if not isinstance(value, UploadFile):
                raise invalid(("body", name), f"{name} must be a file part (with a filename)")
            index = int(match.group(1))
            if index in parts:
                raise invalid(("body", name), f"a file for document {index} is sent more than once")
            parts[index] = (name, value)
        elif name in fields:
            if name in texts:
                raise invalid(("body", name), f"{name} is sent more than once")
            texts[name] = value if isinstance(value, str) else await _text_of(name, value)
        else:
            expected = ", ".join(sorted(fields))
            raise invalid(("body", name), f"unexpected part {name!r}; expected {expected} and document_0, …")
    return texts, parts


async def _text_of(name: str, upload: UploadFile) -> str:
    raw = await upload.read(TEXT_LIMIT + 1)
    if len(raw) > TEXT_LIMIT:
        raise too_large(("body", name), f"{name} is larger than the {TEXT_LIMIT} bytes allowed")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(("body", name), f"{name} is not UTF-8 text") from exc


async def inspect_uploads(
    parts: Mapping[int, tuple[str, UploadFile]], limits: FileSettings
) -> dict[int, Upload]:
    """Check every file by its content and size, in index order, against what the dossier has left."""
    uploads: dict[int, Upload] = {}
    budget = limits.max_dossier_bytes
    for index, (name, upload) in sorted(parts.items()):
        try:
            checked = await inspect_upload(
                part=name, filename=upload.filename, source=upload, settings=limits, budget_left=budget
            )
        except UploadRejected as exc:
            raise (too_large if exc.too_large else invalid)(("body", exc.part), str(exc)) from exc
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
    SubmissionIn,
    {"dossier": {"type": "string", "description": "the submission as JSON, as in the JSON body"}},
    ["dossier"],
)
SUPPLEMENT_BODY = _body(
    SupplementIn,
    {
        "note": {"type": "string"},
        "documents": {"type": "string", "description": 'JSON list: [{"name": …, "kind": …}, …]'},
    },
    [],
)
