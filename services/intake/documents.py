"""A dossier's documents: each paired with its uploaded file or the earlier document it reuses,
checked against the procedure, then stored with their content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.files import FileStore, Upload
from services.intake.models import Dossier, DossierDocument, StoredFile, object_upload
from services.intake.schemas import SUBMISSION_DOCUMENTS, DocumentIn, Loc
from shared.bus.objects import queue_upload
from shared.bus.streams import DOCUMENTS
from shared.db import insert_ignoring_duplicates, table_of
from shared.errors import Invalid
from shared.events import DocumentRef, ProcedureVersion


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


def check_documents(
    procedure: ProcedureVersion, documents: Sequence[DocumentIn], *, loc: Loc = SUBMISSION_DOCUMENTS
) -> None:
    attached = {document.name.strip().casefold() for document in documents}
    missing = [
        doc.name for doc in procedure.documents if doc.required and doc.name.casefold() not in attached
    ]
    if missing:
        raise Invalid("missing required documents: " + "; ".join(missing), loc=loc)


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
            raise Invalid(
                f"{stray.part} has no document at index {index} (the documents list has {len(documents)})",
                loc=("body", stray.part),
            )
    resolved: list[ResolvedDocument] = []
    for index, document in enumerate(documents):
        name = document.name.strip()
        upload = uploads.get(index)
        if document.kind == "reused":
            if upload is not None:
                raise Invalid(
                    f"{upload.part} belongs to a reused document, whose content comes from "
                    f"{document.reused_from}: send no file for it",
                    loc=("body", upload.part),
                )
            source_code = document.reused_from or ""
            earlier = await _reusable(
                session, store, id_number=id_number, dossier_code=source_code, name=name
            )
            if earlier is None:
                raise Invalid(
                    f"no document named {name!r} with stored content in an earlier dossier "
                    f"{source_code} of this applicant",
                    loc=(*loc, index, "reused_from"),
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
            insert_ignoring_duplicates(session, table_of(StoredFile))
            .values(sha256=upload.sha256, size=upload.size, media_type=upload.media_type, created_at=at)
            .on_conflict_do_nothing()
        )
    for document in documents:
        if document.sha256 is not None and document.media_type is not None:
            # For processing's staff, through the documents bucket (``shared.bus.objects``).
            await queue_upload(
                session,
                object_upload,
                bucket=DOCUMENTS,
                name=f"{dossier_code}/{document.sha256}",
                sha256=document.sha256,
                media_type=document.media_type,
            )
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


# The order a dossier's documents are shown in: as they came, each submission's in its own order.
DOCUMENT_ORDER = (col(DossierDocument.added_at), col(DossierDocument.position), col(DossierDocument.id))
# Built once: read with every look at a dossier.
_DOCUMENTS_OF = (
    select(DossierDocument)
    .where(col(DossierDocument.dossier_code) == bindparam("code"))
    .order_by(*DOCUMENT_ORDER)
)


async def documents_of(session: AsyncSession, *, code: str) -> list[DossierDocument]:
    return list((await session.exec(_DOCUMENTS_OF, params={"code": code})).all())
