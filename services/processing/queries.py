"""What staff read: one dossier, its audit trail and step clocks, and the worklist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.catalog import procedure_of
from services.processing.changes import DossierNotFound
from services.processing.models import WORKLIST_DEADLINE, Dossier, DossierHistory, DossierStep
from services.processing.steps import steps_of
from services.processing.working_calendar import calendar_of
from services.processing.writing import read_dossier
from shared.db import Detached
from shared.driver_statements import DriverStatement
from shared.events import OPEN
from shared.staff import Staff


async def get(session: AsyncSession, *, code: str) -> Dossier:
    """The dossier, to be read only: an object in no session (see ``writing``)."""
    dossier = await read_dossier(session, code)
    if dossier is None:
        raise DossierNotFound(code)
    return dossier


_HISTORIES = Detached(DossierHistory)
# Read with every look at a dossier.
_HISTORY = DriverStatement(
    _HISTORIES.select()
    .where(_HISTORIES.table.c.dossier_code == bindparam("code"))
    .order_by(_HISTORIES.table.c.id)
)


async def history(session: AsyncSession, *, code: str) -> list[DossierHistory]:
    return [_HISTORIES.of(row) for row in await _HISTORY.rows(session, {"code": code})]


@dataclass(frozen=True)
class StepClock:
    step: DossierStep
    used_hours: float
    remaining_hours: float | None


async def step_clocks(session: AsyncSession, dossier: Dossier, *, now: datetime) -> list[StepClock]:
    """Allotted, used and remaining working time of every step started so far."""
    procedure = await procedure_of(session, dossier)
    calendar = await calendar_of(session, procedure)
    clocks = []
    for step in await steps_of(session, dossier.code):
        if step.used_hours is not None:
            used = step.used_hours
        else:
            # A waiting dossier's clock stands still where the supplement was asked.
            until = dossier.paused_at or now
            used = max(calendar.working_hours_between(step.started_at, until) - step.paused_hours, 0.0)
        remaining = round(step.allotted_hours - used, 4) if step.counted else None
        clocks.append(StepClock(step=step, used_hours=round(used, 4), remaining_hours=remaining))
    return clocks


async def worklist(
    session: AsyncSession,
    *,
    actor: Staff,
    statuses: Sequence[int] | None,
    step_name: str | None,
    assignee: str | None,
    due_before: datetime | None,
    limit: int,
    offset: int,
) -> list[Dossier]:
    """The dossiers where the actor may act now, soonest deadline first."""
    statement: Any = select(Dossier).where(
        actor.scope_clause(agency_column=Dossier.current_agency_code, unit_column=Dossier.current_unit_code)
    )
    statement = statement.where(col(Dossier.status).in_(list(statuses) if statuses else sorted(OPEN)))
    if step_name is not None or assignee is not None:
        statement = statement.join(
            DossierStep,
            (DossierStep.dossier_code == Dossier.code)
            & (DossierStep.step_index == Dossier.current_step_index),
        )
        if step_name is not None:
            statement = statement.where(DossierStep.name == step_name)
        if assignee is not None:
            statement = statement.where(DossierStep.assignee == assignee)
    # The deadline that matters now: acceptance while new, then the dossier's due date; the
    # expression the worklist's indexes are built on, so that a page is read from one of them.
    deadline = WORKLIST_DEADLINE
    if due_before is not None:
        statement = statement.where(deadline < due_before)
    statement = statement.order_by(deadline, col(Dossier.code)).limit(limit).offset(offset)
    return list((await session.exec(statement)).all())
