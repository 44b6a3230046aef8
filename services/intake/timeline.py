"""The citizen's timeline of a dossier: a row per change they hear of, written in the change's
transaction, each shown with the status the dossier had at its revision."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, DossierStatusChange, DossierTimeline


def record_timeline(
    session: AsyncSession, dossier: Dossier, *, at: datetime, event_type: str, note: str
) -> None:
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


def with_detail(note: str, detail: str | None) -> str:
    return f"{note}: {detail}" if detail else note


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
