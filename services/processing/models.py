"""Processing's own tables: the catalog, the directory, the calendar overrides and the dossiers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

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


class Procedure(ProcessingModel, table=True):
    """One published version of a procedure; dossiers keep the version they were submitted under."""

    __table_args__ = (UniqueConstraint("code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, max_length=40)
    version: int
    published_at: datetime = moment_field()
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CalendarOverride(ProcessingModel, table=True):
    """An extra day off (``working`` false) or a make-up working day (true) announced for a year."""

    __tablename__ = "calendar_override"

    day: date = Field(primary_key=True)
    working: bool
    note: str = ""


class Dossier(ProcessingModel, table=True):
    code: str = Field(primary_key=True, max_length=40)
    procedure_code: str = Field(index=True, max_length=40)
    procedure_version: int
    agency_code: str = Field(index=True, max_length=40)
    current_unit_code: str = Field(index=True, max_length=40)
    status: int = Field(index=True)
    applicant: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    documents: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    channel: str = Field(max_length=20)
    submitted_at: datetime = moment_field()
    registered_at: datetime = moment_field()
    acceptance_due_at: datetime = moment_field(index=True)
    decided_at: datetime | None = moment_field(optional=True)
    decided_by: str | None = None
    late_acceptance: bool | None = None
    due_at: datetime | None = moment_field(optional=True, index=True)
    refusal_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Goes up with every change; it is also the ``version`` of the events the change emits.
    revision: int = 1


class DossierHistory(ProcessingModel, table=True):
    """The audit trail: one row per transition, only ever inserted."""

    __tablename__ = "dossier_history"

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(foreign_key="dossier.code", index=True)
    at: datetime = moment_field()
    action: str = Field(max_length=40)
    actor: str = Field(max_length=80)
    actor_role: str = Field(max_length=20)
    from_status: int | None = None
    to_status: int
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
