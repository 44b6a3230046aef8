"""The rules' refusals as the portal shows them: each beside the field it is about.

The rules answer in English (they are the API's); a Vietnamese reader gets the portal's message
for that field instead, an English reader the rule's own words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from shared.errors import Invalid, Refusal
from shared.pages import pages_of, reader_language

FORM = "_form"
# What a Vietnamese reader sees for an empty required field, and for a field the rules refuse.
_EMPTY = frozenset({"missing", "string_too_short"})


def _field(loc: Sequence[Any]) -> str:
    """The form field a location names: ``applicant.phone`` → ``phone``, ``body.document_2`` →
    ``document_2``, anything about the documents list → ``documents``."""
    parts = [str(part) for part in loc if part != "body"]
    if parts[:1] == ["applicant"] and len(parts) > 1:
        return parts[1]
    if parts[:1] == ["documents"]:
        return "documents"
    if parts and parts[0].startswith("document_"):
        return parts[0]
    return parts[0] if len(parts) == 1 and parts[0] in {"note", "reason", "rating"} else FORM


def _message(request: Request, field: str, rule_text: str, *, empty: bool = False) -> str:
    if reader_language(request) == "en":
        return rule_text[:1].upper() + rule_text[1:]
    topic = "document" if field.startswith("document_") else field
    key = "portal.errors.required" if empty else f"portal.errors.{topic}"
    text = pages_of(request).messages.text("vi", key)
    if text == key:
        return rule_text
    # A refusal of the whole form (the dossier's state) keeps the rule's reason beside the sentence.
    return f"{text} ({rule_text})" if field == FORM and rule_text else text


def field_errors(request: Request, exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        field = _field(error["loc"])
        rule_text = str(error["msg"]).removeprefix("Value error, ")
        empty = error["type"] in _EMPTY and not error.get("input")
        errors.setdefault(field, _message(request, field, rule_text, empty=empty))
    return errors


def refusal_errors(request: Request, refusal: Refusal | Any) -> dict[str, str]:
    """The errors of a rule's refusal (``Invalid`` with its location, ``Conflict``), or of an
    ``HTTPException``'s detail (a list of ``{"loc", "msg"}``, or a sentence)."""
    if isinstance(refusal, Refusal):
        loc = refusal.loc if isinstance(refusal, Invalid) and refusal.loc else ()
        field = _field(loc)
        return {field: _message(request, field, refusal.message)}
    if isinstance(refusal, list):
        errors: dict[str, str] = {}
        for item in refusal:
            if isinstance(item, Mapping):
                field = _field(item.get("loc", ()))
                errors.setdefault(field, _message(request, field, str(item.get("msg", ""))))
        return errors or {FORM: _message(request, FORM, str(refusal))}
    return {FORM: _message(request, FORM, str(refusal))}
