"""The citizen's timeline of a dossier: a row per change they hear of, written in the change's
transaction, each shown with the status the dossier had at its revision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, DossierStatusChange, DossierTimeline
from shared.driver_statements import DriverStatement


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


# The status of the last change of status at or before a timeline row's revision: none when the row
# has no revision or no change is known by then, and the row's own status is shown instead.
_STATUS_AT_ROW = (
    select(DossierStatusChange.status)
    .where(
        col(DossierStatusChange.dossier_code) == col(DossierTimeline.dossier_code),
        col(DossierStatusChange.revision) <= col(DossierTimeline.revision),
    )
    .order_by(col(DossierStatusChange.revision).desc())
    .limit(1)
    .correlate(DossierTimeline)
    .scalar_subquery()
)

# Built once, and run on the driver: the citizen's view is read on every look at a dossier.
_TIMELINE = DriverStatement(
    select(
        col(DossierTimeline.at),
        col(DossierTimeline.event_type),
        func.coalesce(_STATUS_AT_ROW, col(DossierTimeline.status)),
        col(DossierTimeline.note),
    )
    .where(col(DossierTimeline.dossier_code) == bindparam("code"))
    .order_by(col(DossierTimeline.at), col(DossierTimeline.revision), col(DossierTimeline.id))
)


async def timeline_of(session: AsyncSession, *, code: str) -> list[TimelineEntry]:
    """The citizen's timeline, each entry with the status the dossier had at its row's revision
    (the status stored with the row when no change of status at or before it is known)."""
    rows = await _TIMELINE.rows(session, {"code": code})
    return [
        TimelineEntry(at=at, event_type=event_type, status=status, note=note)
        for at, event_type, status, note in rows
    ]
