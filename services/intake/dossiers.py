"""A citizen's dossier: submitting it with its documents, the citizen's actions afterwards (send a
supplement, withdraw, rate), and what the citizen sees of it.

Every change writes its event to the outbox and a row of the citizen's timeline in the same
transaction as the change itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.citizen_id import validate_citizen_id
from services.intake.files import FileStore, Upload
from services.intake.models import (
    Dossier,
    DossierDocument,
    DossierStatusChange,
    DossierTimeline,
    ProcedureCopy,
    StoredFile,
)
from shared.bus.outbox import Outbox
from shared.db import insert_ignoring_duplicates
from shared.email_address import check_email_address
from shared.events import (
    Applicant,
    DocumentKind,
    DocumentRef,
    DossierRated,
    DossierStatus,
    DossierSubmitted,
    DossierSupplementProvided,
    DossierWithdrawalRequested,
    ProcedureVersion,
    Rating,
    utc_now,
)
from shared.working_time import VN_TZ

PHONE_DIGITS = (10, 11)

KIND_LABELS: dict[str, str] = {"digital": "Bản điện tử", "scan": "Bản số hóa", "reused": "Tái sử dụng"}
RATING_LABELS: dict[str, str] = {
    "very_satisfied": "Rất hài lòng",
    "satisfied": "Hài lòng",
    "dissatisfied": "Không hài lòng",
}
# A citizen may ask to withdraw until the dossier is resolved (or already ended another way).
WITHDRAWABLE = frozenset(
    {
        DossierStatus.RECEIVING,
        DossierStatus.NEW,
        DossierStatus.PROCESSING,
        DossierStatus.WAITING,
        DossierStatus.PAYING,
    }
)
RESOLVED = frozenset({DossierStatus.RELEASING, DossierStatus.DONE})

Loc = tuple[str | int, ...]
SUBMISSION_DOCUMENTS: Loc = ("body", "documents")


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
        return check_email_address(value)


class DocumentIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    kind: DocumentKind = "digital"
    reused_from: str | None = Field(
        default=None,
        max_length=40,
        validate_default=True,
        description="for a reused document: the code of the applicant's earlier dossier that holds it",
    )

    @field_validator("reused_from")
    @classmethod
    def _reused_names_its_dossier(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        kind = info.data.get("kind")
        if kind == "reused" and not value:
            raise ValueError("a reused document names the earlier dossier it comes from (its code)")
        if kind is not None and kind != "reused" and value:
            raise ValueError('only a document of kind "reused" comes from an earlier dossier')
        return value or None


class SubmissionIn(BaseModel):
    procedure_code: str = Field(min_length=1, max_length=40)
    applicant: ApplicantIn
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)
    channel: Literal["online", "counter"] = "online"


class SupplementIn(BaseModel):
    """What the citizen sends when asked to complete the dossier (bổ sung hồ sơ)."""

    note: str | None = Field(default=None, max_length=2000)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _something_to_send(self) -> SupplementIn:
        if self.note is not None and not self.note.strip():
            self.note = None
        if not self.documents and self.note is None:
            raise ValueError("a supplement carries at least one document or a note")
        return self


class WithdrawalIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class RatingIn(BaseModel):
    rating: Rating
    reason: str | None = Field(default=None, max_length=2000, validate_default=True)

    @field_validator("reason")
    @classmethod
    def _reason_when_dissatisfied(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value else None
        if info.data.get("rating") == "dissatisfied" and not value:
            raise ValueError("a reason is required when the citizen is dissatisfied (không hài lòng)")
        return value or None


class SubmissionRejected(ValueError):
    """The request breaks a rule; ``loc`` names the field or part at fault (answered with 422)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


class ActionRefused(Exception):
    """The dossier is not in a state that allows the action (answered with 409, saying why)."""


class IdempotencyConflict(Exception):
    pass


@dataclass(frozen=True)
class ResolvedDocument:
    """A document of the request with its content settled: uploaded now, reused, or none."""

    position: int
    name: str
    kind: str
    sha256: str | None = None
    media_type: str | None = None
    size: int | None = None
    filename: str | None = None
    reused_from: str | None = None
    upload: Upload | None = None

    def ref(self) -> DocumentRef:
        return DocumentRef.model_validate(
            {
                "name": self.name,
                "kind": self.kind,
                "sha256": self.sha256,
                "media_type": self.media_type,
                "size": self.size,
                "reused_from": self.reused_from,
            }
        )


def fingerprint(submission: SubmissionIn, uploads: Mapping[int, Upload] | None = None) -> str:
    """What makes two requests under one ``Idempotency-Key`` the same request: the body and the
    content of its files. Unset document fields are left out, so keys issued before documents had
    them keep their fingerprint."""
    body = submission.model_dump(mode="json")
    body["documents"] = [
        document.model_dump(mode="json", exclude_none=True) for document in submission.documents
    ]
    if uploads:
        body["files"] = {str(index): upload.sha256 for index, upload in sorted(uploads.items())}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
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


async def procedure_of(session: AsyncSession, dossier: Dossier) -> ProcedureVersion | None:
    """The procedure version the dossier was submitted under."""
    row = await session.get(ProcedureCopy, (dossier.procedure_code, dossier.procedure_version))
    return None if row is None else ProcedureVersion.model_validate(row.body)


async def by_idempotency_key(session: AsyncSession, *, key: str) -> Dossier | None:
    return (await session.exec(select(Dossier).where(Dossier.idempotency_key == key))).first()


async def find_for_citizen(
    session: AsyncSession, *, code: str, id_number: str, for_update: bool = False
) -> Dossier | None:
    """The dossier when ``id_number`` is its applicant's CCCD, else ``None``, whichever pair is
    wrong; ``for_update`` locks the row (on PostgreSQL) for a read-modify-write."""
    statement = select(Dossier).where(Dossier.code == code)
    if for_update:
        statement = statement.with_for_update()
    dossier = (await session.exec(statement)).first()
    if dossier is None or not hmac.compare_digest(dossier.id_number.encode(), id_number.strip().encode()):
        return None
    return dossier


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


def check_documents(
    procedure: ProcedureVersion, documents: Sequence[DocumentIn], *, loc: Loc = SUBMISSION_DOCUMENTS
) -> None:
    attached = {document.name.strip().casefold() for document in documents}
    missing = [
        doc.name for doc in procedure.documents if doc.required and doc.name.casefold() not in attached
    ]
    if missing:
        raise SubmissionRejected(loc, "missing required documents: " + "; ".join(missing))


async def _reusable(
    session: AsyncSession, store: FileStore, *, id_number: str, dossier_code: str, name: str
) -> DossierDocument | None:
    """The newest document called ``name`` with stored content in the applicant's dossier."""
    statement = (
        select(DossierDocument)
        .join(Dossier, col(Dossier.code) == col(DossierDocument.dossier_code))
        .where(DossierDocument.dossier_code == dossier_code)
        .where(Dossier.id_number == id_number)
        .where(col(DossierDocument.sha256).is_not(None))
        .order_by(col(DossierDocument.added_at).desc(), col(DossierDocument.id).desc())
    )
    wanted = name.strip().casefold()
    for row in (await session.exec(statement)).all():
        if row.name.strip().casefold() == wanted and row.sha256 is not None and store.has(row.sha256):
            return row
    return None


async def resolve_documents(
    session: AsyncSession,
    store: FileStore,
    *,
    id_number: str,
    documents: Sequence[DocumentIn],
    uploads: Mapping[int, Upload],
    loc: Loc,
) -> list[ResolvedDocument]:
    """Pair each document with its uploaded file, or with the content it reuses.

    A file part must belong to a document of the list, and a reused document takes its content from
    the applicant's earlier dossier, never from an upload. Another citizen's dossier and a dossier
    that does not exist get the same answer, so that the error reveals nothing.
    """
    for index, stray in sorted(uploads.items()):
        if index >= len(documents):
            raise SubmissionRejected(
                ("body", stray.part),
                f"{stray.part} has no document at index {index} (the documents list has {len(documents)})",
            )
    resolved: list[ResolvedDocument] = []
    for index, document in enumerate(documents):
        name = document.name.strip()
        upload = uploads.get(index)
        if document.kind == "reused":
            if upload is not None:
                raise SubmissionRejected(
                    ("body", upload.part),
                    f"{upload.part} belongs to a reused document, whose content comes from "
                    f"{document.reused_from}: send no file for it",
                )
            source_code = document.reused_from or ""
            earlier = await _reusable(
                session, store, id_number=id_number, dossier_code=source_code, name=name
            )
            if earlier is None:
                raise SubmissionRejected(
                    (*loc, index, "reused_from"),
                    f"no document named {name!r} with stored content in an earlier dossier "
                    f"{source_code} of this applicant",
                )
            resolved.append(
                ResolvedDocument(
                    position=index,
                    name=name,
                    kind="reused",
                    sha256=earlier.sha256,
                    media_type=earlier.media_type,
                    size=earlier.size,
                    filename=earlier.original_filename,
                    reused_from=source_code,
                )
            )
        elif upload is not None:
            resolved.append(
                ResolvedDocument(
                    position=index,
                    name=name,
                    kind=document.kind,
                    sha256=upload.sha256,
                    media_type=upload.media_type,
                    size=upload.size,
                    filename=upload.filename,
                    upload=upload,
                )
            )
        else:
            resolved.append(ResolvedDocument(position=index, name=name, kind=document.kind))
    return resolved


async def store_documents(
    session: AsyncSession,
    store: FileStore,
    *,
    dossier_code: str,
    origin: Literal["submission", "supplement"],
    documents: Sequence[ResolvedDocument],
    at: datetime,
) -> list[DocumentRef]:
    """Write the uploaded files to the store and the documents to the dossier.

    Called only once every rule has passed. A file written here outlives a transaction that fails
    to commit afterwards (a lost race on an Idempotency-Key, the database going away); it is keyed
    by its content, so the next upload of the same bytes reuses it, and the hourly retention pass
    deletes it once no row has referred to it for the grace period (``file_retention``).
    """
    for document in documents:
        upload = document.upload
        if upload is None:
            continue
        await store.save(upload)
        await session.execute(
            insert_ignoring_duplicates(session, StoredFile.__table__)  # type: ignore[attr-defined]
            .values(sha256=upload.sha256, size=upload.size, media_type=upload.media_type, created_at=at)
            .on_conflict_do_nothing()
        )
    for document in documents:
        session.add(
            DossierDocument(
                dossier_code=dossier_code,
                origin=origin,
                position=document.position,
                name=document.name,
                kind=document.kind,
                sha256=document.sha256,
                media_type=document.media_type,
                size=document.size,
                original_filename=(document.filename or "")[:255] or None,
                reused_from=document.reused_from,
                added_at=at,
            )
        )
    return [document.ref() for document in documents]


def _timeline(session: AsyncSession, dossier: Dossier, *, at: datetime, event_type: str, note: str) -> None:
    session.add(
        DossierTimeline(
            dossier_code=dossier.code,
            at=at,
            event_type=event_type,
            status=dossier.status,
            note=note,
            revision=dossier.revision,
        )
    )


def _with_detail(note: str, detail: str | None) -> str:
    return f"{note}: {detail}" if detail else note


async def submit(
    session: AsyncSession,
    outbox: Outbox,
    store: FileStore,
    *,
    submission: SubmissionIn,
    idempotency_key: str | None,
    uploads: Mapping[int, Upload] | None = None,
    documents_loc: Loc = SUBMISSION_DOCUMENTS,
) -> tuple[Dossier, bool]:
    """Store the dossier, its documents and its ``dossier.submitted`` event; returns it and whether
    it is new. ``uploads`` are the checked files by index in ``submission.documents``.

    With an ``Idempotency-Key`` seen before, the earlier dossier comes back unchanged.
    """
    uploads = uploads or {}
    digest = fingerprint(submission, uploads)
    if idempotency_key is not None:
        earlier = await by_idempotency_key(session, key=idempotency_key)
        if earlier is not None:
            if earlier.request_fingerprint != digest:
                raise IdempotencyConflict("this Idempotency-Key was already used for a different request")
            return earlier, False
    procedure = await current_procedure(session, code=submission.procedure_code)
    if procedure is None:
        raise SubmissionRejected(
            (*documents_loc[:-1], "procedure_code"), f"unknown procedure {submission.procedure_code!r}"
        )
    check_documents(procedure, submission.documents, loc=documents_loc)
    applicant = submission.applicant
    documents = await resolve_documents(
        session,
        store,
        id_number=applicant.id_number,
        documents=submission.documents,
        uploads=uploads,
        loc=documents_loc,
    )
    now = utc_now()
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
        documents=[document.ref().model_dump(mode="json") for document in documents],
        channel=submission.channel,
        submitted_at=now,
        revision=1,
        idempotency_key=idempotency_key,
        request_fingerprint=digest,
    )
    session.add(dossier)
    await session.flush()
    refs = await store_documents(
        session, store, dossier_code=dossier.code, origin="submission", documents=documents, at=now
    )
    _timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.submitted",
        note="Nộp hồ sơ trực tuyến" if submission.channel == "online" else "Nộp hồ sơ tại bộ phận một cửa",
    )
    await outbox.add(
        session,
        DossierSubmitted(
            dossier_code=dossier.code,
            version=dossier.revision,
            procedure_code=procedure.code,
            procedure_version=procedure.version,
            agency_code=procedure.agency_code,
            applicant=Applicant.model_validate(applicant.model_dump()),
            documents=refs,
            channel=submission.channel,
            submitted_at=now,
        ),
    )
    return dossier, True


def _state_text(dossier: Dossier) -> str:
    state = DossierStatus(dossier.status)
    return f"{int(state)} ({state.vietnamese_name})"


async def provide_supplement(
    session: AsyncSession,
    outbox: Outbox,
    store: FileStore,
    *,
    dossier: Dossier,
    supplement: SupplementIn,
    uploads: Mapping[int, Upload] | None = None,
    documents_loc: Loc = SUBMISSION_DOCUMENTS,
) -> list[DocumentRef]:
    """The citizen sends what was asked for (bổ sung), once per request, while one is requested.

    Intake records that this request is answered in the same transaction, so a second supplement
    sent before processing has taken in the first is refused instead of being dropped there.
    """
    if dossier.status != DossierStatus.WAITING:
        raise ActionRefused(
            "a supplement can be sent only while one is requested "
            f"(status 5, {DossierStatus.WAITING.vietnamese_name}); this dossier is {_state_text(dossier)}"
        )
    if dossier.supplement_provided_at is not None and dossier.supplement_provided_for == (
        dossier.supplement_revision
    ):
        sent = _local_text(dossier.supplement_provided_at)
        raise ActionRefused(
            f"a supplement for this request was already sent at {sent} and is being taken in; "
            "if more is needed, the officer will ask again"
        )
    documents = await resolve_documents(
        session,
        store,
        id_number=dossier.id_number,
        documents=supplement.documents,
        uploads=uploads or {},
        loc=documents_loc,
    )
    now = utc_now()
    refs = await store_documents(
        session, store, dossier_code=dossier.code, origin="supplement", documents=documents, at=now
    )
    dossier.supplement_provided_at = now
    dossier.supplement_provided_for = dossier.supplement_revision
    session.add(dossier)
    names = "; ".join(ref.name for ref in refs)
    _timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.supplement.provided",
        note=_with_detail("Công dân bổ sung hồ sơ", "; ".join(filter(None, [names, supplement.note]))),
    )
    await outbox.add(
        session,
        DossierSupplementProvided(
            dossier_code=dossier.code,
            version=dossier.revision,
            documents=refs,
            note=supplement.note,
            provided_at=now,
        ),
    )
    return refs


async def request_withdrawal(
    session: AsyncSession, outbox: Outbox, *, dossier: Dossier, reason: str | None
) -> None:
    """The citizen asks to withdraw the dossier (rút hồ sơ); processing decides and confirms."""
    if dossier.withdrawal_requested_at is not None:
        requested = _local_text(dossier.withdrawal_requested_at)
        raise ActionRefused(f"withdrawal of this dossier was already requested at {requested}")
    if dossier.status not in WITHDRAWABLE:
        raise ActionRefused(
            f"a dossier can be withdrawn only until it is resolved; this dossier is {_state_text(dossier)}"
        )
    reason = reason.strip() if reason and reason.strip() else None
    now = utc_now()
    dossier.withdrawal_requested_at = now
    session.add(dossier)
    _timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.withdrawal.requested",
        note=_with_detail("Công dân yêu cầu rút hồ sơ", reason),
    )
    await outbox.add(
        session,
        DossierWithdrawalRequested(
            dossier_code=dossier.code, version=dossier.revision, reason=reason, requested_at=now
        ),
    )


async def rate(
    session: AsyncSession, outbox: Outbox, *, dossier: Dossier, rating: Rating, reason: str | None
) -> None:
    """The citizen's satisfaction with the service, once the result is in their hands."""
    if dossier.rated_at is not None:
        raise ActionRefused(f"this dossier was already rated at {_local_text(dossier.rated_at)}")
    if dossier.status != DossierStatus.DONE:
        raise ActionRefused(
            "a dossier can be rated once its result is returned "
            f"(status 10, {DossierStatus.DONE.vietnamese_name}); this dossier is {_state_text(dossier)}"
        )
    now = utc_now()
    dossier.rating = rating
    dossier.rating_reason = reason
    dossier.rated_at = now
    session.add(dossier)
    _timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.rated",
        note=_with_detail(f"Công dân đánh giá: {RATING_LABELS[rating]}", reason),
    )
    await outbox.add(
        session,
        DossierRated(
            dossier_code=dossier.code, version=dossier.revision, rating=rating, reason=reason, rated_at=now
        ),
    )


async def documents_of(session: AsyncSession, *, code: str) -> list[DossierDocument]:
    statement = (
        select(DossierDocument)
        .where(DossierDocument.dossier_code == code)
        .order_by(col(DossierDocument.added_at), col(DossierDocument.position), col(DossierDocument.id))
    )
    return list((await session.exec(statement)).all())


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event_type: str
    status: int
    note: str | None


async def timeline_of(session: AsyncSession, *, code: str) -> list[TimelineEntry]:
    """The citizen's timeline, each entry with the status the dossier had at its row's revision
    (the status stored with the row when no change of status at or before it is known)."""
    statement = (
        select(DossierTimeline)
        .where(DossierTimeline.dossier_code == code)
        .order_by(col(DossierTimeline.at), col(DossierTimeline.revision), col(DossierTimeline.id))
    )
    rows = list((await session.exec(statement)).all())
    changes = (
        await session.exec(
            select(DossierStatusChange)
            .where(DossierStatusChange.dossier_code == code)
            .order_by(col(DossierStatusChange.revision))
        )
    ).all()
    revisions = [change.revision for change in changes]
    entries = []
    for row in rows:
        known = -1 if row.revision is None else bisect_right(revisions, row.revision) - 1
        status = changes[known].status if known >= 0 else row.status
        entries.append(TimelineEntry(at=row.at, event_type=row.event_type, status=status, note=row.note))
    return entries


def _local(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(VN_TZ).isoformat()


def _local_text(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y")


def _document_view(document: DossierDocument) -> dict[str, Any]:
    return {
        "name": document.name,
        "kind": document.kind,
        "kind_label": KIND_LABELS.get(document.kind, document.kind),
        "origin": document.origin,
        "media_type": document.media_type,
        "size": document.size,
        "filename": document.original_filename,
        "sha256": document.sha256,
        "reused_from": document.reused_from,
        "added_at": _local(document.added_at),
    }


def _history_view(row: TimelineEntry) -> dict[str, Any]:
    state = DossierStatus(row.status)
    return {
        "at": _local(row.at),
        "event_type": row.event_type,
        "status": int(state),
        "status_label": state.vietnamese_name,
        "note": row.note,
    }


def public_view(
    dossier: Dossier,
    *,
    documents: Sequence[DossierDocument] = (),
    history: Sequence[TimelineEntry] = (),
) -> dict[str, Any]:
    """What the citizen sees: the status in the portal's terms, the dates in Vietnam's time, what
    is asked of them while a supplement is requested, the outcome once resolved, and the history."""
    state = DossierStatus(dossier.status)
    waiting = state == DossierStatus.WAITING
    # Sent for the request the dossier waits on now, and not yet taken in by processing.
    answered = waiting and dossier.supplement_provided_for == dossier.supplement_revision
    resolved = state in RESOLVED or dossier.resolved_at is not None
    return {
        "code": dossier.code,
        "status": int(state),
        "status_name": state.portal_name,
        "status_label": state.vietnamese_name,
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "agency_code": dossier.agency_code,
        "channel": dossier.channel,
        "submitted_at": _local(dossier.submitted_at),
        "accepted_at": _local(dossier.accepted_at),
        "due_at": _local(dossier.due_at),
        "current_step": dossier.current_step,
        "status_note": dossier.status_note,
        "supplement_items": dossier.supplement_items if waiting else None,
        "supplement_deadline_at": _local(dossier.supplement_deadline_at) if waiting else None,
        "resolved_at": _local(dossier.resolved_at) if resolved else None,
        "result_name": dossier.result_name if resolved else None,
        "timeliness": dossier.timeliness if resolved else None,
        "returned_at": _local(dossier.returned_at),
        "supplement_provided_at": _local(dossier.supplement_provided_at) if answered else None,
        "withdrawal_requested_at": _local(dossier.withdrawal_requested_at),
        "rating": dossier.rating,
        "rated_at": _local(dossier.rated_at),
        # Dossiers from before documents had rows of their own keep their list in the dossier row.
        "documents": [_document_view(document) for document in documents] if documents else dossier.documents,
        "history": [_history_view(row) for row in history],
    }


async def citizen_view(session: AsyncSession, dossier: Dossier) -> dict[str, Any]:
    return public_view(
        dossier,
        documents=await documents_of(session, code=dossier.code),
        history=await timeline_of(session, code=dossier.code),
    )
