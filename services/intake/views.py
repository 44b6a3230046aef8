"""What the citizen reads of a dossier: found by code and CCCD, with its documents and timeline."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.documents import documents_of
from services.intake.models import Dossier, DossierDocument
from services.intake.schemas import KIND_LABELS, DocumentPublic, DossierPublic, HistoryEntryPublic
from services.intake.timeline import TimelineEntry, timeline_of
from shared.events import RESOLVED, DossierStatus

# Built once: a citizen's every look at a dossier starts here.
_BY_CODE = select(Dossier).where(col(Dossier.code) == bindparam("code"))
_BY_CODE_FOR_UPDATE = _BY_CODE.with_for_update()


async def find_for_citizen(
    session: AsyncSession, *, code: str, id_number: str, for_update: bool = False
) -> Dossier | None:
    """The dossier when ``id_number`` is its applicant's CCCD, else ``None``, whichever pair is
    wrong; ``for_update`` locks the row (on PostgreSQL) for a read-modify-write."""
    statement = _BY_CODE_FOR_UPDATE if for_update else _BY_CODE
    dossier = (await session.exec(statement, params={"code": code})).first()
    if dossier is None or not hmac.compare_digest(dossier.id_number.encode(), id_number.strip().encode()):
        return None
    return dossier


def _document_view(document: DossierDocument) -> DocumentPublic:
    return DocumentPublic.model_validate(
        {
            "name": document.name,
            "kind": document.kind,
            "kind_label": KIND_LABELS.get(document.kind, document.kind),
            "origin": document.origin,
            "media_type": document.media_type,
            "size": document.size,
            "filename": document.original_filename,
            "sha256": document.sha256,
            "reused_from": document.reused_from,
            "added_at": document.added_at,
        }
    )


def _history_view(row: TimelineEntry) -> HistoryEntryPublic:
    state = DossierStatus(row.status)
    return HistoryEntryPublic.model_validate(
        {
            "at": row.at,
            "event_type": row.event_type,
            "status": int(state),
            "status_label": state.vietnamese_name,
            "note": row.note,
        }
    )


def public_view(
    dossier: Dossier,
    *,
    documents: Sequence[DossierDocument] = (),
    history: Sequence[TimelineEntry] = (),
) -> DossierPublic:
    """What the citizen sees: the status in the portal's terms, the dates in Vietnam's time, what
    is asked of them while a supplement is requested, the outcome once resolved, and the history."""
    state = DossierStatus(dossier.status)
    waiting = state == DossierStatus.WAITING
    # Sent for the request the dossier waits on now, and not yet taken in by processing.
    answered = waiting and dossier.supplement_provided_for == dossier.supplement_revision
    resolved = state in RESOLVED or dossier.resolved_at is not None
    return DossierPublic.model_validate(
        {
            "code": dossier.code,
            "status": int(state),
            "status_name": state.portal_name,
            "status_label": state.vietnamese_name,
            "procedure_code": dossier.procedure_code,
            "procedure_name": dossier.procedure_name,
            "agency_code": dossier.agency_code,
            "channel": dossier.channel,
            "submitted_at": dossier.submitted_at,
            "accepted_at": dossier.accepted_at,
            "due_at": dossier.due_at,
            "current_step": dossier.current_step,
            "status_note": dossier.status_note,
            "supplement_items": dossier.supplement_items if waiting else None,
            "supplement_deadline_at": dossier.supplement_deadline_at if waiting else None,
            "resolved_at": dossier.resolved_at if resolved else None,
            "result_name": dossier.result_name if resolved else None,
            "result_electronic": resolved and dossier.result_electronic,
            "timeliness": dossier.timeliness if resolved else None,
            "returned_at": dossier.returned_at,
            "supplement_provided_at": dossier.supplement_provided_at if answered else None,
            "withdrawal_requested_at": dossier.withdrawal_requested_at,
            "rating": dossier.rating,
            "rated_at": dossier.rated_at,
            # Dossiers from before documents had rows of their own keep their list in the dossier row.
            "documents": [_document_view(document) for document in documents]
            if documents
            else dossier.documents,
            "history": [_history_view(row) for row in history],
        }
    )


async def citizen_view(session: AsyncSession, dossier: Dossier) -> DossierPublic:
    return public_view(
        dossier,
        documents=await documents_of(session, code=dossier.code),
        history=await timeline_of(session, code=dossier.code),
    )
