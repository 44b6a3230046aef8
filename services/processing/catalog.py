"""The procedure catalog, which processing owns (the seed catalog of real procedures is in
``services/processing/seed``).

Every change is a new version: a dossier keeps the version it was submitted under. Storing a version
and writing its ``ProcedurePublished`` to the outbox happen in one transaction, whether the version
comes from the seed or from an admin. The seed never replaces a version an admin published.

Step allotments come from the provinces' published internal workflows (quy trình nội bộ, 2025).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import inspect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import directory
from services.processing.models import Dossier, Procedure
from shared.bus.outbox import Outbox
from shared.db import insert_ignoring_duplicates, memo_of
from shared.errors import Conflict, Invalid, NotFound
from shared.events import (
    CalendarKind,
    ProcedurePublished,
    ProcedureStep,
    ProcedureVersion,
    RequiredDocument,
    SupplementPolicy,
    TimeLimit,
    utc_now,
)
from shared.working_time import HOURS_PER_DAY

SEED_PUBLISHER = "seed"


class InvalidProcedure(Invalid):
    pass


class UnknownProcedure(NotFound):
    pass


class VersionConflict(Conflict):
    """Someone else published a version of the same procedure at the same moment."""


def total_hours(limit: TimeLimit) -> float:
    """The time limit as a duration in the calendar's hours (8 h = 1 day)."""
    factors = {
        "working_day": HOURS_PER_DAY,
        "calendar_day": HOURS_PER_DAY,
        "working_hour": 1,
        "minute": 1 / 60,
    }
    return limit.value * factors[limit.unit]


def calendar_kind(limit: TimeLimit) -> CalendarKind:
    if limit.unit == "calendar_day":
        return "calendar_days"
    if limit.unit == "minute":
        return "always"
    return "working"


_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# The longest duration a procedure may name, in its calendar's hours: a year of the 24/7 calendar
# (on the working calendar, more than four years). Deadlines are counted from these on every
# change, and a duration past what a date can hold made acceptance and supplements fail with a
# server error instead of refusing the procedure.
MAX_HOURS = 366 * 24


class ProcedureDraft(BaseModel):
    """A procedure version as an admin writes it: ``build_procedure`` adds the version, the total
    hours, the calendar and the agency's name."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40, pattern=_CODE)
    name: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200)
    agency_code: str = Field(min_length=1, max_length=40)
    level: Literal["full", "partial"]
    fee: str = Field(default="Không", max_length=500)
    time_limit: TimeLimit
    documents: list[RequiredDocument] = Field(default_factory=list)
    steps: list[ProcedureStep] = Field(min_length=1)
    supplement_policy: SupplementPolicy = "pause"
    supplement_days: float = Field(default=5, gt=0, allow_inf_nan=False)
    stall_hours: float = Field(default=8, gt=0, allow_inf_nan=False)
    escalation_hours: list[float] = Field(default_factory=lambda: [4.0, 8.0], max_length=2)


def _check_durations(draft: ProcedureDraft, hours: float) -> None:
    """Every duration the deadlines are counted from stays within ``MAX_HOURS``."""
    durations = {
        "the time limit": hours,
        "the supplement deadline": draft.supplement_days * HOURS_PER_DAY,
        "the stall delay": draft.stall_hours,
        **{f"escalation delay {rung}": delay for rung, delay in enumerate(draft.escalation_hours, start=1)},
        **{f"step {number} ({step.name})": step.hours for number, step in enumerate(draft.steps, start=1)},
    }
    if too_long := [name for name, value in durations.items() if value > MAX_HOURS]:
        raise InvalidProcedure(f"{draft.code}: {', '.join(too_long)} longer than {MAX_HOURS} h (a year)")


def build_procedure(*, draft: ProcedureDraft, agency_name: str, version: int = 1) -> ProcedureVersion:
    """A procedure version whose counted step allotments add up to its time limit."""
    code = draft.code
    if not math.isfinite(draft.time_limit.value) or draft.time_limit.value <= 0:
        raise InvalidProcedure(f"{code}: the time limit must be a positive number")
    if not draft.steps:
        raise InvalidProcedure(f"{code}: a procedure needs at least one step")
    for number, step in enumerate(draft.steps, start=1):
        if not step.name.strip() or not step.unit_code.strip():
            raise InvalidProcedure(f"{code}: step {number} needs a name and a unit")
        if not math.isfinite(step.hours) or step.hours < 0:
            raise InvalidProcedure(f"{code}: step {number} ({step.name}) has a negative allotment")
    hours = total_hours(draft.time_limit)
    _check_durations(draft, hours)
    allotted = sum(step.hours for step in draft.steps if step.counted)
    if not math.isclose(allotted, hours, abs_tol=1 / 120):
        raise InvalidProcedure(
            f"{code}: the counted steps allot {allotted:g} h "
            f"({' + '.join(f'{step.hours:g}' for step in draft.steps if step.counted)}) but the time limit "
            f"{draft.time_limit.value:g} {draft.time_limit.unit} is {hours:g} h"
        )
    if any(not math.isfinite(delay) or delay <= 0 for delay in draft.escalation_hours) or (
        draft.escalation_hours != sorted(draft.escalation_hours)
    ):
        raise InvalidProcedure(f"{code}: escalation delays must be positive and in increasing order")
    names = Counter(document.name.strip().casefold() for document in draft.documents)
    if repeated := sorted(name for name, count in names.items() if count > 1):
        raise InvalidProcedure(f"{code}: documents listed more than once: {', '.join(repeated)}")
    return ProcedureVersion.model_validate(
        {
            **draft.model_dump(),
            "version": version,
            "agency_name": agency_name,
            "total_hours": hours,
            "calendar": calendar_kind(draft.time_limit),
        }
    )


# -- the stored catalog -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedVersion:
    procedure: ProcedureVersion
    published_at: datetime
    # ``seed``, or the admin who published it.
    published_by: str


def _published(row: Procedure) -> PublishedVersion:
    # Versions stored before publishers were recorded all came from the seed.
    return PublishedVersion(
        procedure=ProcedureVersion.model_validate(row.body),
        published_at=row.published_at,
        published_by=row.published_by,
    )


async def _latest_rows(session: AsyncSession) -> dict[str, Procedure]:
    rows = (await session.exec(select(Procedure).order_by(col(Procedure.code), col(Procedure.version)))).all()
    return {row.code: row for row in rows}


async def latest_versions(session: AsyncSession) -> list[ProcedureVersion]:
    return [ProcedureVersion.model_validate(row.body) for row in (await _latest_rows(session)).values()]


async def get_version(session: AsyncSession, *, code: str, version: int) -> ProcedureVersion | None:
    """A published version, which never changes: read once per process (dossiers and timers name
    versions published, and committed, before them)."""
    memo = memo_of(session)
    key = ("procedure", code, version)
    if (known := memo.get(key)) is not None:
        return cast(ProcedureVersion, known)
    statement = select(Procedure).where(Procedure.code == code, Procedure.version == version)
    row = (await session.exec(statement)).first()
    if row is None:
        return None
    memo[key] = procedure = ProcedureVersion.model_validate(row.body)
    return procedure


async def versions_of(session: AsyncSession, *, code: str) -> list[PublishedVersion]:
    """Every published version of a procedure, oldest first; ``UnknownProcedure`` when there is none."""
    statement = select(Procedure).where(Procedure.code == code).order_by(col(Procedure.version))
    rows = (await session.exec(statement)).all()
    if not rows:
        raise UnknownProcedure(f"procedure {code} not found")
    return [_published(row) for row in rows]


async def _latest(session: AsyncSession, *, code: str) -> PublishedVersion | None:
    statement = select(Procedure).where(Procedure.code == code).order_by(col(Procedure.version).desc())
    row = (await session.exec(statement.limit(1))).first()
    return None if row is None else _published(row)


def _same(a: ProcedureVersion, b: ProcedureVersion) -> bool:
    return a.model_dump(mode="json", exclude={"version"}) == b.model_dump(mode="json", exclude={"version"})


async def _store(
    session: AsyncSession, procedure: ProcedureVersion, *, after: PublishedVersion | None, published_by: str
) -> ProcedureVersion | None:
    """Store ``procedure`` as the version after ``after``; ``None`` when another transaction has
    stored that version number first (replicas seeding together, or two admins at once)."""
    stored = procedure.model_copy(update={"version": 1 if after is None else after.procedure.version + 1})
    table = inspect(Procedure).local_table
    statement = (
        insert_ignoring_duplicates(session, table)
        .values(
            code=stored.code,
            version=stored.version,
            published_at=utc_now(),
            published_by=published_by,
            body=stored.model_dump(mode="json"),
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    inserted = (await session.execute(statement)).first()
    return None if inserted is None else stored


async def publish_procedure(
    session: AsyncSession, outbox: Outbox, *, draft: ProcedureDraft, published_by: str
) -> tuple[ProcedureVersion, bool]:
    """Publish ``draft`` as the next version of its procedure (version 1 of a new code), checked
    against the directory. Returns the current version and whether it is new: a draft identical to
    the current version publishes nothing."""
    agency = await directory.get_agency(session, code=draft.agency_code)
    if agency is None:
        raise InvalidProcedure(f"{draft.code}: agency {draft.agency_code} does not exist")
    units = await directory.units_by_code(session, codes=(step.unit_code for step in draft.steps))
    if missing := sorted({step.unit_code for step in draft.steps} - units.keys()):
        raise InvalidProcedure(f"{draft.code}: steps name units that do not exist: {', '.join(missing)}")
    first = units[draft.steps[0].unit_code]
    if first.agency_code != draft.agency_code or not first.receives_dossiers:
        raise InvalidProcedure(
            f"{draft.code}: the first step receives the dossier, so its unit must be a receiving unit "
            f"(one-stop desk) of agency {draft.agency_code}; {first.code} is not"
        )
    latest = await _latest(session, code=draft.code)
    procedure = build_procedure(draft=draft, agency_name=agency.name)
    if latest is not None and _same(latest.procedure, procedure):
        return latest.procedure, False
    stored = await _store(session, procedure, after=latest, published_by=published_by)
    if stored is None:
        raise VersionConflict(f"{draft.code}: another version was published at the same time; try again")
    await outbox.add(session, ProcedurePublished(procedure=stored, version=stored.version))
    return stored, True


async def publish_catalog(session: AsyncSession, outbox: Outbox, catalog: list[ProcedureVersion]) -> None:
    """Store each seed procedure as a new version when it differs from the latest one, unless an
    admin has published a version of it since; then publish every current version, so that intake's
    read copy is complete even after intake lost its database."""
    for procedure in catalog:
        latest = await _latest(session, code=procedure.code)
        if latest is not None and (
            latest.published_by != SEED_PUBLISHER or _same(latest.procedure, procedure)
        ):
            continue
        # None: a replica starting beside this one stored the same seed version first.
        await _store(session, procedure, after=latest, published_by=SEED_PUBLISHER)
    current = [ProcedureVersion.model_validate(row.body) for row in (await _latest_rows(session)).values()]
    await outbox.add(session, *(ProcedurePublished(procedure=item, version=item.version) for item in current))


async def procedure_of(session: AsyncSession, dossier: Dossier) -> ProcedureVersion:
    """The procedure version the dossier was submitted under."""
    procedure = await get_version(session, code=dossier.procedure_code, version=dossier.procedure_version)
    if procedure is None:
        raise LookupError(
            f"procedure {dossier.procedure_code} v{dossier.procedure_version} is not in the catalog"
        )
    return procedure
