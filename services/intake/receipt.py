"""The receipt a citizen prints after submitting (giấy tiếp nhận hồ sơ và hẹn trả kết quả, "phiếu
hẹn"): who submitted what, to which agency, when, and when to come back for the result.

Its QR code leads to the lookup page with the dossier code filled in; it never carries the CCCD,
which the page asks for and sends in a POST body.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

import segno
from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.intake.files import human_size
from services.intake.models import Dossier, DossierDocument
from services.intake.schemas import KIND_LABELS
from shared.events import DossierStatus, ProcedureVersion, TimeLimit
from shared.vietnam_time import vn_datetime

_TIME_UNITS = {
    "working_day": "ngày làm việc",
    "working_hour": "giờ làm việc",
    "calendar_day": "ngày",
    "minute": "phút",
}
APPOINTMENT_PENDING = "sẽ được thông báo khi hồ sơ được tiếp nhận"


class ReceiptSettings(BaseSettings):
    """``MOTCUA_INTAKE_PUBLIC_URL``: where citizens reach intake, for the QR code's link."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_INTAKE_", extra="ignore")

    public_url: str = "http://127.0.0.1:8001"


def time_limit_text(limit: TimeLimit) -> str:
    """``0,5 ngày làm việc``: the number with a decimal comma, as the procedure states it."""
    value = f"{limit.value:g}".replace(".", ",")
    return f"{value} {_TIME_UNITS[limit.unit]}"


def status_url(public_url: str, code: str) -> str:
    """The lookup page a citizen opens from the QR code: the code is not personal data, the CCCD is."""
    return f"{public_url.rstrip('/')}/lookup?code={quote(code, safe='')}"


def qr_svg(url: str) -> Markup:
    """An inline SVG QR code of ``url``; segno draws it from the modules, so nothing is escaped away."""
    return Markup(segno.make(url, error="m").svg_inline(scale=3, border=2))


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    kind_label: str
    size: str
    origin: str


def appointment_text(dossier: Dossier) -> str:
    if dossier.due_at is not None:
        return vn_datetime(dossier.due_at)
    if dossier.status == DossierStatus.DENIED:
        return "không có (hồ sơ không được tiếp nhận)"
    return APPOINTMENT_PENDING


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    # Every template renders sandboxed, so that none can reach Python's internals.
    return ImmutableSandboxedEnvironment(
        loader=PackageLoader("services.intake", "templates"),
        # HTML with what citizens typed in it: escape everything unless marked safe.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_receipt(
    *,
    dossier: Dossier,
    procedure: ProcedureVersion | None,
    documents: list[DossierDocument],
    public_url: str,
) -> str:
    lookup_url = status_url(public_url, dossier.code)
    lines = [
        ReceiptLine(
            name=document.name,
            kind_label=KIND_LABELS.get(document.kind, document.kind),
            size="" if document.size is None else human_size(document.size),
            origin=document.origin,
        )
        for document in documents
    ]
    state = DossierStatus(dossier.status)
    return (
        _environment()
        .get_template("receipt.html.j2")
        .render(
            dossier=dossier,
            agency_name=procedure.agency_name if procedure else dossier.agency_code,
            procedure_name=procedure.name if procedure else dossier.procedure_name,
            time_limit=time_limit_text(procedure.time_limit) if procedure else "",
            fee=procedure.fee if procedure else "",
            status_label=state.vietnamese_name,
            received_at=vn_datetime(dossier.submitted_at),
            appointment=appointment_text(dossier),
            documents=lines,
            lookup_url=lookup_url,
            qr=qr_svg(lookup_url),
        )
    )


def render_lookup_page(code: str) -> str:
    """The page where a citizen types the dossier code and CCCD; it posts them to the lookup."""
    return _environment().get_template("lookup.html.j2").render(code=code)
