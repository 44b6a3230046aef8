"""Submitting a dossier and keeping the citizen's status copy current."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.citizen_id import validate_citizen_id
from services.intake.models import Dossier, ProcedureCopy
from shared.bus.outbox import Outbox
from shared.events import (
    Applicant,
    DocumentKind,
    DocumentRef,
    DossierStatus,
    DossierSubmitted,
    ProcedureVersion,
    utc_now,
)
from shared.working_time import VN_TZ

PHONE_DIGITS = (10, 11)


class ApplicantIn(BaseModel):
    full_name: str = Field(min_length=2, max_length=200)
    id_number: str = Field(description="CCCD: 12 digits")
    phone: str = Field(min_length=9, max_length=15)
    email: str | None = Field(default=None, max_length=254)
    address: str = Field(min_length=3, max_length=500)

    @field_validator("full_name", "address")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 2:
            raise ValueError("must not be blank")
        return value

    @field_validator("id_number")
    @classmethod
    def _citizen_id(cls, value: str) -> str:
        return validate_citizen_id(value.strip())

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = value.replace(" ", "").replace(".", "").replace("-", "")
        if digits.startswith("+84"):
            digits = "0" + digits[3:]
        if not digits.isdigit() or not digits.startswith("0") or len(digits) not in PHONE_DIGITS:
            raise ValueError("a Vietnamese phone number has 10 digits starting with 0 (or +84)")
        return digits

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError("not an email address")
        return value


class DocumentIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    kind: DocumentKind = "digital"


class SubmissionIn(BaseModel):
    procedure_code: str = Field(min_length=1, max_length=40)
    applicant: ApplicantIn
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)
    channel: Literal["online", "counter"] = "online"


class SubmissionRejected(ValueError):
    """The submission breaks a rule of its procedure; ``loc`` names the field at fault."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class IdempotencyConflict(Exception):
    pass


def fingerprint(submission: SubmissionIn) -> str:
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def current_procedure(session: AsyncSession, *, code: str) -> ProcedureVersion | None:
    statement = (
        select(ProcedureCopy)
        .where(ProcedureCopy.code == code)
        .order_by(col(ProcedureCopy.version).desc())
        .limit(1)
    )
    row = (await session.exec(statement)).first()
    return None if row is None else ProcedureVersion.model_validate(row.body)


async def current_procedures(session: AsyncSession) -> list[ProcedureVersion]:
    rows = (
        await session.exec(
            select(ProcedureCopy).order_by(col(ProcedureCopy.code), col(ProcedureCopy.version))
        )
    ).all()
    latest = {row.code: row for row in rows}
    return [ProcedureVersion.model_validate(row.body) for row in latest.values()]


async def by_idempotency_key(session: AsyncSession, *, key: str) -> Dossier | None:
    return (await session.exec(select(Dossier).where(Dossier.idempotency_key == key))).first()


async def next_code(session: AsyncSession, *, agency_code: str, at: datetime) -> str:
    """``{agency}-{yyMMdd}-{nnnn}``: one atomic upsert per code, unique across replicas."""
    local_day = at.astimezone(VN_TZ).date()
    result = await session.execute(
        text(
            "INSERT INTO dossier_sequence (agency_code, day, last) VALUES (:agency, :day, 1) "
            "ON CONFLICT (agency_code, day) DO UPDATE SET last = dossier_sequence.last + 1 "
            "RETURNING last"
        ),
        {"agency": agency_code, "day": local_day},
    )
    number = int(result.scalar_one())
    return f"{agency_code}-{local_day:%y%m%d}-{number:04d}"


def check_documents(procedure: ProcedureVersion, documents: list[DocumentIn]) -> None:
    attached = {document.name.strip().casefold() for document in documents}
    missing = [
        doc.name for doc in procedure.documents if doc.required and doc.name.casefold() not in attached
    ]
    if missing:
        raise SubmissionRejected(("body", "documents"), "missing required documents: " + "; ".join(missing))


async def submit(
    session: AsyncSession, outbox: Outbox, *, submission: SubmissionIn, idempotency_key: str | None
) -> tuple[Dossier, bool]:
    """Store the dossier and its ``dossier.submitted`` event; returns it and whether it is new.

    With an ``Idempotency-Key`` seen before, the earlier dossier comes back unchanged.
    """
    digest = fingerprint(submission)
    if idempotency_key is not None:
        earlier = await by_idempotency_key(session, key=idempotency_key)
        if earlier is not None:
            if earlier.request_fingerprint != digest:
                raise IdempotencyConflict("this Idempotency-Key was already used for a different request")
            return earlier, False
    procedure = await current_procedure(session, code=submission.procedure_code)
    if procedure is None:
        raise SubmissionRejected(
            ("body", "procedure_code"), f"unknown procedure {submission.procedure_code!r}"
        )
    check_documents(procedure, submission.documents)
    now = utc_now()
    applicant = submission.applicant
    dossier = Dossier(
        code=await next_code(session, agency_code=procedure.agency_code, at=now),
        procedure_code=procedure.code,
        procedure_version=procedure.version,
        procedure_name=procedure.name,
        agency_code=procedure.agency_code,
        status=DossierStatus.RECEIVING,
        full_name=applicant.full_name,
        id_number=applicant.id_number,
        phone=applicant.phone,
        email=applicant.email,
        address=applicant.address,
        documents=[document.model_dump(mode="json") for document in submission.documents],
        channel=submission.channel,
        submitted_at=now,
        revision=1,
        idempotency_key=idempotency_key,
        request_fingerprint=digest,
    )
    session.add(dossier)
    await session.flush()
    await outbox.add(
        session,
        DossierSubmitted(
            dossier_code=dossier.code,
            version=dossier.revision,
            procedure_code=procedure.code,
            procedure_version=procedure.version,
            agency_code=procedure.agency_code,
            applicant=Applicant.model_validate(applicant.model_dump()),
            documents=[
                DocumentRef.model_validate(document.model_dump()) for document in submission.documents
            ],
            channel=submission.channel,
            submitted_at=now,
        ),
    )
    return dossier, True


def public_view(dossier: Dossier) -> dict[str, Any]:
    state = DossierStatus(dossier.status)

    def local(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(VN_TZ).isoformat()

    return {
        "code": dossier.code,
        "status": int(state),
        "status_name": state.portal_name,
        "status_label": state.vietnamese_name,
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "agency_code": dossier.agency_code,
        "channel": dossier.channel,
        "submitted_at": local(dossier.submitted_at),
        "accepted_at": local(dossier.accepted_at),
        "due_at": local(dossier.due_at),
        "status_note": dossier.status_note,
        "documents": dossier.documents,
    }
