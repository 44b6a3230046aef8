"""The reports' records read from processing's tables: the accepted dossiers a period needs, within
the caller's reach, in two statements (the dossiers, then the units their steps ran in).

A member of staff reaches a dossier that has had a step in their scope (``Staff.scope_clause`` over
the step's agency and unit): an officer or a manager the dossiers their unit worked on, a leader
those their agency did, an admin all. The units a dossier lists are the ones in reach, so a unit's
row never shows to someone outside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import catalog
from services.processing.domain import Action
from services.processing.models import metadata
from services.processing.reports.figures import DossierRecord, Period
from shared.events import DossierStatus
from shared.staff import Staff

dossier = metadata.tables["dossier"]
step = metadata.tables["dossier_step"]
history = metadata.tables["dossier_history"]
agency = metadata.tables["agency"]
unit = metadata.tables["unit"]

# The moment a dossier was accepted: its one ``accept`` row (nothing goes back to receiving).
_accepted = history.alias("accepted")

# Working hours from acceptance to resolution, pauses excluded: what the steps up to the resolving
# one used (each step's ``used_hours`` leaves out the time the clock stood still).
_resolution_hours = (
    select(func.sum(step.c.used_hours))
    .where(step.c.dossier_code == dossier.c.code, step.c.completed_at <= dossier.c.resolved_at)
    .scalar_subquery()
)


def _in_reach(actor: Staff) -> ColumnElement[bool] | None:
    """Dossiers with a step within the actor's scope; ``None`` for an admin, who reaches all."""
    if actor.is_admin:
        return None
    return exists().where(
        step.c.dossier_code == dossier.c.code,
        actor.scope_clause(agency_column=step.c.agency_code, unit_column=step.c.unit_code),
    )


def _conditions(actor: Staff, period: Period) -> list[ColumnElement[bool]]:
    """Accepted before the period ends, and neither resolved nor withdrawn before it starts."""
    conditions: list[ColumnElement[bool]] = [
        _accepted.c.at < period.end,
        or_(dossier.c.resolved_at.is_(None), dossier.c.resolved_at >= period.start),
        or_(dossier.c.withdrawn_at.is_(None), dossier.c.withdrawn_at >= period.start),
        dossier.c.due_at.is_not(None),
    ]
    reach = _in_reach(actor)
    if reach is not None:
        conditions.append(reach)
    return conditions


def _with_acceptance(statement: Any) -> Any:
    return statement.join(
        _accepted, and_(_accepted.c.dossier_code == dossier.c.code, _accepted.c.action == Action.ACCEPT.value)
    )


async def dossier_records(session: AsyncSession, *, actor: Staff, period: Period) -> list[DossierRecord]:
    """Every accepted dossier in reach that ``period`` needs: received in it, or still open at its
    start (carried over); each with the units in reach its steps ran in."""
    conditions = _conditions(actor, period)
    columns = (
        dossier.c.code,
        dossier.c.agency_code,
        dossier.c.procedure_code,
        dossier.c.channel,
        dossier.c.status,
        dossier.c.due_at,
        dossier.c.resolved_at,
        dossier.c.outcome,
        # Issued as a stored file (a PDF attached at approval); otherwise on paper.
        dossier.c.electronic_result,
        dossier.c.decided_at,
        dossier.c.withdrawn_at,
        dossier.c.last_action_at,
        dossier.c.paused_at,
        dossier.c.rescheduled,
        dossier.c.documents,
        dossier.c.rating,
        _accepted.c.at.label("accepted_at"),
        _resolution_hours.label("resolution_hours"),
    )
    rows = (await session.execute(_with_acceptance(select(*columns)).where(*conditions))).all()
    codes = _with_acceptance(select(dossier.c.code)).where(*conditions)
    units = select(step.c.dossier_code, step.c.unit_code).where(step.c.dossier_code.in_(codes))
    if not actor.is_admin:
        units = units.where(
            actor.scope_clause(agency_column=step.c.agency_code, unit_column=step.c.unit_code)
        )
    units_of: dict[str, list[str]] = defaultdict(list)
    for code, unit_code in (await session.execute(units.order_by(step.c.step_index))).all():
        if unit_code not in units_of[code]:
            units_of[code].append(unit_code)
    return [_record(dict(row._mapping), tuple(units_of[row.code])) for row in rows]


def _record(row: Mapping[str, Any], units: tuple[str, ...]) -> DossierRecord:
    documents: list[dict[str, Any]] = row["documents"] or []
    return DossierRecord(
        code=row["code"],
        agency_code=row["agency_code"],
        procedure_code=row["procedure_code"],
        units=units,
        channel=row["channel"],
        received_at=row["accepted_at"],
        due_at=row["due_at"],
        resolved_at=row["resolved_at"],
        outcome=row["outcome"],
        ended_at=_ended_at(row),
        paused_at=row["paused_at"] if row["status"] == DossierStatus.WAITING else None,
        rescheduled=bool(row["rescheduled"]),
        electronic_result=bool(row["electronic_result"]),
        digitised=bool(documents) and all(_held_electronically(item) for item in documents),
        reused=any(item.get("kind") == "reused" for item in documents),
        rating=row["rating"],
        resolution_hours=None if row["resolved_at"] is None else row["resolution_hours"],
    )


def _held_electronically(document: Mapping[str, Any]) -> bool:
    """Uploaded (its content is stored by its sha256) or reused from an earlier dossier's file; a
    document declared by its name alone was handed over on paper."""
    return bool(document.get("sha256")) or document.get("kind") == "reused"


def _ended_at(row: Mapping[str, Any]) -> datetime | None:
    """When an accepted dossier ended without a result: withdrawn, refused after its supplement
    deadline (the refusal's moment), or stopped (its last action)."""
    status = DossierStatus(row["status"])
    if status is DossierStatus.CANCELLED:
        ended: datetime | None = row["withdrawn_at"] or row["last_action_at"]
        return ended
    if status is DossierStatus.DENIED:
        refused: datetime | None = row["decided_at"]
        return refused
    if status is DossierStatus.UNRESOLVED:
        stopped: datetime | None = row["last_action_at"]
        return stopped
    return None


@dataclass(frozen=True)
class Names:
    """What the rows' keys are called: agencies, units and procedures by code."""

    agencies: Mapping[str, str]
    units: Mapping[str, str]
    procedures: Mapping[str, str]

    def of(self, grouping: str, key: str) -> str:
        table = {"agency": self.agencies, "unit": self.units, "procedure": self.procedures}.get(grouping, {})
        return table.get(key, key)


async def names(session: AsyncSession) -> Names:
    agencies = dict((await session.execute(select(agency.c.code, agency.c.name))).tuples().all())
    units = dict((await session.execute(select(unit.c.code, unit.c.name))).tuples().all())
    procedures = {version.code: version.name for version in await catalog.latest_versions(session)}
    return Names(agencies=agencies, units=units, procedures=procedures)
