"""Submitting a dossier: its code, its documents, its timeline's first row and its
``dossier.submitted`` event in one transaction, once per ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.catalog import current_procedure
from services.intake.documents import check_documents, resolve_documents, store_documents
from services.intake.files import FileStore, Upload
from services.intake.models import Dossier
from services.intake.schemas import SUBMISSION_DOCUMENTS, Loc, SubmissionIn
from services.intake.timeline import record_timeline
from shared.bus.outbox import Outbox
from shared.errors import Conflict, Invalid
from shared.events import Applicant, DossierStatus, DossierSubmitted, utc_now
from shared.working_time import VN_TZ


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
                raise Conflict("this Idempotency-Key was already used for a different request")
            return earlier, False
    procedure = await current_procedure(session, code=submission.procedure_code)
    if procedure is None:
        raise Invalid(
            f"unknown procedure {submission.procedure_code!r}", loc=(*documents_loc[:-1], "procedure_code")
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
    record_timeline(
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
