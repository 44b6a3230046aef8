"""The citizen's actions on a dossier once submitted: send a supplement, ask to withdraw, rate.

Each writes the citizen's timeline and its event in the same transaction, and is refused with a
``Conflict`` saying why when the dossier's state does not allow it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.documents import resolve_documents, store_documents
from services.intake.files import FileStore, Upload
from services.intake.models import Dossier
from services.intake.schemas import RATING_LABELS, SUBMISSION_DOCUMENTS, Loc, SupplementIn
from services.intake.timeline import record_timeline, with_detail
from shared.bus.outbox import Outbox
from shared.errors import Conflict
from shared.events import (
    WITHDRAWABLE,
    DocumentRef,
    DossierRated,
    DossierStatus,
    DossierSupplementProvided,
    DossierWithdrawalRequested,
    Rating,
    utc_now,
)
from shared.vietnam_time import vn_datetime


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
        raise Conflict(
            "a supplement can be sent only while one is requested "
            f"(status 5, {DossierStatus.WAITING.vietnamese_name}); this dossier is {_state_text(dossier)}"
        )
    if dossier.supplement_provided_at is not None and dossier.supplement_provided_for == (
        dossier.supplement_revision
    ):
        sent = vn_datetime(dossier.supplement_provided_at)
        raise Conflict(
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
    record_timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.supplement.provided",
        note=with_detail("Công dân bổ sung hồ sơ", "; ".join(filter(None, [names, supplement.note]))),
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
        requested = vn_datetime(dossier.withdrawal_requested_at)
        raise Conflict(f"withdrawal of this dossier was already requested at {requested}")
    if dossier.status not in WITHDRAWABLE:
        raise Conflict(
            f"a dossier can be withdrawn only until it is resolved; this dossier is {_state_text(dossier)}"
        )
    reason = reason.strip() if reason and reason.strip() else None
    now = utc_now()
    dossier.withdrawal_requested_at = now
    session.add(dossier)
    record_timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.withdrawal.requested",
        note=with_detail("Công dân yêu cầu rút hồ sơ", reason),
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
        raise Conflict(f"this dossier was already rated at {vn_datetime(dossier.rated_at)}")
    if dossier.status != DossierStatus.DONE:
        raise Conflict(
            "a dossier can be rated once its result is returned "
            f"(status 10, {DossierStatus.DONE.vietnamese_name}); this dossier is {_state_text(dossier)}"
        )
    now = utc_now()
    dossier.rating = rating
    dossier.rating_reason = reason
    dossier.rated_at = now
    session.add(dossier)
    record_timeline(
        session,
        dossier,
        at=now,
        event_type="dossier.rated",
        note=with_detail(f"Công dân đánh giá: {RATING_LABELS[rating]}", reason),
    )
    await outbox.add(
        session,
        DossierRated(
            dossier_code=dossier.code, version=dossier.revision, rating=rating, reason=reason, rated_at=now
        ),
    )
