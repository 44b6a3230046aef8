"""What the citizen reads of a dossier: found by code and CCCD, with its documents and timeline."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, Table, bindparam
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.documents import DOCUMENT_ORDER
from services.intake.models import Dossier, DossierDocument
from services.intake.schemas import KIND_LABELS, DocumentPublic, DossierPublic, HistoryEntryPublic
from services.intake.timeline import TimelineEntry, timeline_of
from shared.db import table_of
from shared.driver_statements import DriverStatement
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
    if dossier is None or not _is_applicant(dossier.id_number, id_number):
        return None
    return dossier


def _is_applicant(applicant_id_number: str, id_number: str) -> bool:
    """``id_number`` (the citizen session's) is the applicant's CCCD, compared in constant time."""
    return hmac.compare_digest(applicant_id_number.encode(), id_number.strip().encode())


class Record:
    """A row read on the driver, its columns read as attributes, as the ORM's objects are."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def _reading(table: Table, names: Sequence[str]) -> tuple[tuple[str, ...], Select[Any]]:
    """The column names, and the select of those columns of ``table``."""
    return tuple(names), select_columns(*(table.c[name] for name in names))


_DOSSIERS = table_of(Dossier)
_DOCUMENTS = table_of(DossierDocument)
# What the citizen's view reads of the dossier (``public_view``), and the CCCD it is checked against.
_VIEWED, _viewed = _reading(
    _DOSSIERS,
    [
        "id_number",
        "code",
        "status",
        "procedure_code",
        "procedure_name",
        "agency_code",
        "channel",
        "submitted_at",
        "accepted_at",
        "due_at",
        "current_step",
        "status_note",
        "supplement_items",
        "supplement_deadline_at",
        "supplement_revision",
        "supplement_provided_for",
        "supplement_provided_at",
        "resolved_at",
        "result_name",
        "result_electronic",
        "timeliness",
        "returned_at",
        "withdrawal_requested_at",
        "rating",
        "rated_at",
        "documents",
    ],
)
_VIEW_BY_CODE = DriverStatement(_viewed.where(_DOSSIERS.c.code == bindparam("code")))
_DOCUMENT_NAMES, _documents = _reading(
    _DOCUMENTS,
    [
        "name",
        "kind",
        "origin",
        "media_type",
        "size",
        "original_filename",
        "sha256",
        "reused_from",
        "added_at",
    ],
)
_DOCUMENTS_OF = DriverStatement(
    _documents.where(_DOCUMENTS.c.dossier_code == bindparam("code")).order_by(*DOCUMENT_ORDER)
)


async def look_up(session: AsyncSession, *, code: str, id_number: str) -> DossierPublic | None:
    """What the citizen sees of the dossier when ``id_number`` is its applicant's CCCD, else
    ``None``, whichever pair is wrong: as ``find_for_citizen`` then ``citizen_view``, read on the
    driver (the citizen's every look at a dossier, and a portal polls it)."""
    rows = await _VIEW_BY_CODE.rows(session, {"code": code})
    if not rows:
        return None
    dossier = Record(dict(zip(_VIEWED, rows[0], strict=True)))
    if not _is_applicant(dossier.id_number, id_number):
        return None
    return public_view(
        dossier, documents=await _documents_of(session, code), history=await timeline_of(session, code=code)
    )


async def _documents_of(session: AsyncSession, code: str) -> list[Record]:
    """The dossier's documents as the citizen's view reads them, in ``DOCUMENT_ORDER``."""
    rows = await _DOCUMENTS_OF.rows(session, {"code": code})
    return [Record(dict(zip(_DOCUMENT_NAMES, row, strict=True))) for row in rows]


def _document_view(document: DossierDocument | Record) -> DocumentPublic:
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
    dossier: Dossier | Record,
    *,
    documents: Sequence[DossierDocument | Record] = (),
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
    # Its documents and timeline on the driver, which sees what the session has written only: what
    # the transaction added to them (a submission's, a supplement's) is written first.
    await session.flush()
    return public_view(
        dossier,
        documents=await _documents_of(session, dossier.code),
        history=await timeline_of(session, code=dossier.code),
    )
