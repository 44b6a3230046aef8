"""Intake's own tables: the catalog read copy, the citizens' dossiers and the daily code sequence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import moment_field


class IntakeModel(SQLModel, registry=registry()):
    pass


metadata = IntakeModel.metadata


class ProcedureCopy(IntakeModel, table=True):
    """A procedure version as processing published it; the newest version is the one offered."""

    __tablename__ = "procedure_copy"

    code: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    name: str
    agency_code: str = Field(max_length=40)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class DossierSequence(IntakeModel, table=True):
    """The last number given out per agency and day, for codes like ``000.00.06.H56-231027-0361``."""

    __tablename__ = "dossier_sequence"

    agency_code: str = Field(primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    last: int


class Dossier(IntakeModel, table=True):
    code: str = Field(primary_key=True, max_length=40)
    procedure_code: str = Field(index=True, max_length=40)
    procedure_version: int
    procedure_name: str
    agency_code: str = Field(max_length=40)
    status: int
    full_name: str
    id_number: str = Field(index=True, max_length=12)
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    documents: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    channel: str = Field(max_length=20)
    submitted_at: datetime = moment_field()
    accepted_at: datetime | None = moment_field(optional=True)
    due_at: datetime | None = moment_field(optional=True)
    status_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    current_step: str | None = None
    supplement_items: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    supplement_deadline_at: datetime | None = moment_field(optional=True)
    resolved_at: datetime | None = moment_field(optional=True)
    result_name: str | None = None
    timeliness: str | None = Field(default=None, max_length=20)
    returned_at: datetime | None = moment_field(optional=True)
    withdrawal_requested_at: datetime | None = moment_field(optional=True)
    rating: str | None = Field(default=None, max_length=20)
    rating_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rated_at: datetime | None = moment_field(optional=True)
    # The revision of processing's dossier this copy reflects; older events are ignored.
    revision: int = 1
    idempotency_key: str | None = Field(default=None, unique=True, max_length=255)
    request_fingerprint: str | None = Field(default=None, max_length=64)


class DossierTimeline(IntakeModel, table=True):
    """What the citizen sees of the dossier's history: one row per change they hear of."""

    __tablename__ = "dossier_timeline"

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(foreign_key="dossier.code", index=True, max_length=40)
    at: datetime = moment_field()
    event_type: str = Field(max_length=60)
    status: int
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
