"""The portal's catalog: every procedure intake knows, searched by name or code, and a procedure's
page with its documents, its time limit and its fee."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.intake import catalog
from services.intake.receipt import time_limit_text
from shared.events import ProcedureVersion, TimeLimit
from shared.http import SessionDep
from shared.pages import pages_of, reader_language, render

router = APIRouter(tags=["portal"])


def folded(text: str) -> str:
    """``text`` without case or Vietnamese diacritics, so that "dang ky khai sinh" finds
    "Đăng ký khai sinh"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").casefold()


def matching(procedures: list[ProcedureVersion], query: str) -> list[ProcedureVersion]:
    words = folded(query).split()
    return [
        procedure
        for procedure in procedures
        if all(word in folded(f"{procedure.code} {procedure.name} {procedure.field}") for word in words)
    ]


def time_limit_of(request: Request, limit: TimeLimit) -> str:
    """``0,5 ngày làm việc`` in Vietnamese (as the procedure states it), ``0.5 working days``."""
    if reader_language(request) == "vi":
        return time_limit_text(limit)
    unit = pages_of(request).messages.text("en", f"portal.time_unit.{limit.unit}")
    return f"{limit.value:g} {unit}"


@router.get("/", response_class=HTMLResponse)
async def catalog_page(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100, description="words of the name, or the code")] = "",
) -> HTMLResponse:
    """The catalog of procedures (thủ tục hành chính), searched by name or code."""
    procedures = await catalog.current_procedures(session)
    found = matching(procedures, q) if q.strip() else procedures
    return render(request, "portal/catalog.html.j2", procedures=found, query=q, total=len(procedures))


@router.get("/procedures/{code}", response_class=HTMLResponse)
async def procedure_page(request: Request, code: str, session: SessionDep) -> HTMLResponse:
    """A procedure: its documents, time limit, fee and agency, and the way to submit."""
    procedure = await catalog.current_procedure(session, code=code)
    if procedure is None:
        return render(request, "portal/not_found.html.j2", status_code=404)
    return render(
        request,
        "portal/procedure.html.j2",
        procedure=procedure,
        time_limit=time_limit_of(request, procedure.time_limit),
    )
