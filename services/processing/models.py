"""Processing's own tables: the catalog, the directory, the calendar overrides and the dossiers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, func
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.bus.objects import object_upload_table
from shared.db import moment_field


class ProcessingModel(SQLModel, registry=registry()):
    pass


metadata = ProcessingModel.metadata


class Agency(ProcessingModel, table=True):
    """A government agency (cơ quan), e.g. a commune People's Committee or a department."""

    code: str = Field(primary_key=True, max_length=40)
    name: str


class Unit(ProcessingModel, table=True):
    """A unit (đơn vị / phòng ban) of an agency; the receiving unit is its one-stop desk."""

    code: str = Field(primary_key=True, max_length=40)
    agency_code: str = Field(foreign_key="agency.code", index=True)
    name: str
    receives_dossiers: bool = False


class Person(ProcessingModel, table=True):
    """A member of staff: ``officer``, ``manager`` (unit head), ``leader`` (agency head) or ``admin``."""

    username: str = Field(primary_key=True, max_length=80)
    full_name: str
    role: str = Field(max_length=20)
    agency_code: str | None = Field(default=None, foreign_key="agency.code")
    unit_code: str | None = Field(default=None, foreign_key="unit.code")
    email: str | None = None
    active: bool = True


class StaffCredential(ProcessingModel, table=True):
    """A staff member's password, as an Argon2 hash, and their recent failed sign-ins.

    ``must_change``: the password was set by an admin, and its holder chooses their own at the next
    sign-in. ``locked_until``: too many failures in a row; no sign-in until then."""

    __tablename__ = "staff_credential"

    username: str = Field(primary_key=True, foreign_key="person.username", max_length=80)
    password_hash: str = Field(max_length=255)
    must_change: bool = True
    failed_attempts: int = 0
    locked_until: datetime | None = moment_field(optional=True)
    changed_at: datetime = moment_field()


class StaffSession(ProcessingModel, table=True):
    """A signed-in browser: only the SHA-256 of the cookie's value is kept, so that a copy of the
    table opens no session. It ends at sign-out, after ``idle`` without a request, or at ``expires_at``."""

    __tablename__ = "staff_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(foreign_key="person.username", index=True, max_length=80)
    created_at: datetime = moment_field()
    last_seen_at: datetime = moment_field()
    expires_at: datetime = moment_field()


class Procedure(ProcessingModel, table=True):
    """One published version of a procedure; dossiers keep the version they were submitted under."""

    __table_args__ = (UniqueConstraint("code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, max_length=40)
    version: int
    published_at: datetime = moment_field()
    # "seed" for the built-in catalog, otherwise the admin who published it; a restart never
    # replaces an admin's version with the seed.
    published_by: str = Field(default="seed", max_length=80)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CalendarOverride(ProcessingModel, table=True):
    """An extra day off (``working`` false) or a make-up working day (true) announced for a year."""

    __tablename__ = "calendar_override"

    day: date = Field(primary_key=True)
    working: bool
    note: str = ""


class DossierBase(ProcessingModel):
    """What staff see of a dossier; the table adds what only processing keeps."""

    code: str = Field(primary_key=True, max_length=40)
    procedure_code: str = Field(index=True, max_length=40)
    procedure_version: int
    agency_code: str = Field(index=True, max_length=40)
    # Where the dossier is now: the unit (and its agency) of the current step, or the receiving unit.
    current_unit_code: str = Field(index=True, max_length=40)
    current_agency_code: str = Field(index=True, max_length=40)
    current_step_index: int | None = None
    status: int  # indexed with the code: ix_dossier_status_code, below
    applicant: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    documents: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    channel: str = Field(max_length=20)
    submitted_at: datetime = moment_field()
    acceptance_due_at: datetime = moment_field(index=True)
    decided_at: datetime | None = moment_field(optional=True)
    decided_by: str | None = None
    late_acceptance: bool | None = None
    due_at: datetime | None = moment_field(optional=True, index=True)
    refusal_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Supplement (bổ sung): by when, and what.
    supplement_items: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    supplement_deadline_at: datetime | None = moment_field(optional=True)
    rescheduled: bool = False
    resolved_at: datetime | None = moment_field(optional=True)
    outcome: str | None = Field(default=None, max_length=20)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    timeliness: str | None = Field(default=None, max_length=20)
    returned_at: datetime | None = moment_field(optional=True)
    withdrawn_at: datetime | None = moment_field(optional=True)
    rating: str | None = Field(default=None, max_length=20)
    # The result was issued as an electronic document (a PDF attached at approval): what the 766
    # scorecard's indicator 4.1 counts.
    electronic_result: bool = False
    # Goes up with every change; it is also the ``version`` of the events the change emits, and
    # what a client sends back (``expected_revision`` / ``If-Match``) to act on what it saw.
    revision: int = 1


def _no_slots() -> list[str]:
    # A function of ours, not ``list``: SQLModel asks pydantic at every construction whether the
    # factory takes arguments, and reading a builtin's signature cost more than the rest of
    # building a dossier (bench/lifecycle.py registers one per dossier).
    return []


class Dossier(DossierBase, table=True):
    registered_at: datetime = moment_field()
    # When the supplement was asked for: the clock stands still from here.
    paused_at: datetime | None = moment_field(optional=True)
    rating_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_action_at: datetime | None = moment_field(optional=True)
    # Which SLA timers (``SlaTimer.slot``) the last arm armed, so that the next one purges only
    # those its plan drops. ``None`` (rows older than this record) is not known: purge them all.
    sla_slots: list[str] | None = Field(default_factory=_no_slots, sa_column=Column(JSON, nullable=True))


# The worklist: a unit's (a leader's: an agency's) dossiers in the order of the deadline that matters
# now, acceptance while new, then the dossier's due date (``queries.worklist``), read a page at a time
# from the index instead of sorting the whole unit on every request.
_dossier = metadata.tables["dossier"]
WORKLIST_DEADLINE = func.coalesce(_dossier.c.due_at, _dossier.c.acceptance_due_at)
Index("ix_dossier_unit_deadline", _dossier.c.current_unit_code, WORKLIST_DEADLINE, _dossier.c.code)
Index("ix_dossier_agency_deadline", _dossier.c.current_agency_code, WORKLIST_DEADLINE, _dossier.c.code)
# The dossiers in a status, in code order: the SLA reconciliation pages through the open ones from
# here, each page as cheap as the first, whatever the planner knows of the table.
Index("ix_dossier_status_code", _dossier.c.status, _dossier.c.code)


class DossierStep(ProcessingModel, table=True):
    """One step of a dossier's internal workflow (quy trình nội bộ) and its clock."""

    __tablename__ = "dossier_step"
    __table_args__ = (UniqueConstraint("dossier_code", "step_index"),)

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(foreign_key="dossier.code", index=True, max_length=40)
    step_index: int
    name: str
    unit_code: str = Field(max_length=40)
    agency_code: str = Field(max_length=40)
    allotted_hours: float
    counted: bool = True
    assignee: str | None = Field(default=None, index=True, max_length=80)
    started_at: datetime = moment_field()
    due_at: datetime | None = moment_field(optional=True)
    # Working hours the clock stood still while the citizen completed the dossier.
    paused_hours: float = 0
    completed_at: datetime | None = moment_field(optional=True)
    completed_by: str | None = None
    used_hours: float | None = None


class DossierHistoryBase(ProcessingModel):
    """One transition as the audit trail shows it."""

    at: datetime = moment_field()
    action: str = Field(max_length=40)
    actor: str = Field(max_length=80)
    actor_role: str = Field(max_length=20)
    from_status: int | None = None
    to_status: int
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class DossierHistory(DossierHistoryBase, table=True):
    """The audit trail: one row per transition, only ever inserted."""

    __tablename__ = "dossier_history"

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(foreign_key="dossier.code", index=True)


class SlaClaim(ProcessingModel, table=True):
    """An SLA alert raised: one row per (dossier, step, kind, rung), so that each is raised at most
    once whatever the replicas, redeliveries or restarts. ``step_index`` -1 is the dossier itself."""

    __tablename__ = "sla_claim"

    dossier_code: str = Field(primary_key=True, max_length=40)
    step_index: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    rung: int = Field(primary_key=True)
    raised_at: datetime = moment_field()


# Files waiting for their Object Store bucket (shared.bus.objects): the electronic results.
object_upload = object_upload_table(metadata)
