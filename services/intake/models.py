"""Intake's own tables: the catalog read copy, the citizens' dossiers with their documents and
timeline, the stored files and the daily code sequence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.bus.objects import object_upload_table
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
    # The result is a stored PDF (kết quả điện tử) the citizen downloads from the portal.
    result_electronic: bool = False
    timeliness: str | None = Field(default=None, max_length=20)
    returned_at: datetime | None = moment_field(optional=True)
    withdrawal_requested_at: datetime | None = moment_field(optional=True)
    rating: str | None = Field(default=None, max_length=20)
    rating_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rated_at: datetime | None = moment_field(optional=True)
    # The newest revision of processing's dossier this copy has heard of.
    revision: int = 1
    # Per group of fields, the revision that last wrote it (see ``projection``): an event writes a
    # group only when it is at least as new, so any order of the events gives the same copy.
    status_revision: int = 1
    due_revision: int = 0
    step_revision: int = 0
    note_revision: int = 0
    supplement_revision: int = 0
    # Intake's own record that the citizen answered the supplement request of that revision, so a
    # second answer to the same request is refused until processing has seen the first.
    supplement_provided_at: datetime | None = moment_field(optional=True)
    supplement_provided_for: int | None = None
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
    # The revision of processing's dossier the row belongs to; the status shown is the dossier's at
    # that revision (``DossierStatusChange``), whatever order the events arrived in.
    revision: int | None = None


class DossierStatusChange(IntakeModel, table=True):
    """The status processing's dossier took at a revision, one row per change of status heard of."""

    __tablename__ = "dossier_status_change"

    dossier_code: str = Field(foreign_key="dossier.code", primary_key=True, max_length=40)
    revision: int = Field(primary_key=True)
    status: int


class StoredFile(IntakeModel, table=True):
    """Uploaded content, kept once per sha256 under ``{data_dir}/files/{sha256[:2]}/{sha256}``."""

    __tablename__ = "stored_file"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    media_type: str = Field(max_length=100)
    created_at: datetime = moment_field()


class DossierDocument(IntakeModel, table=True):
    """A document of a dossier, sent with the submission or later as a supplement (bổ sung).

    ``kind``: ``digital`` (a digital original), ``scan`` (digitised paper) or ``reused`` from an
    earlier dossier of the same citizen (``reused_from``), whose stored content it shares. A document
    sent without a file (paper handed in at the desk) has no ``sha256``.
    """

    __tablename__ = "dossier_document"

    id: int | None = Field(default=None, primary_key=True)
    dossier_code: str = Field(foreign_key="dossier.code", index=True, max_length=40)
    origin: str = Field(default="submission", max_length=20)
    position: int
    name: str = Field(max_length=300)
    kind: str = Field(max_length=20)
    sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", index=True, max_length=64)
    media_type: str | None = Field(default=None, max_length=100)
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    original_filename: str | None = Field(default=None, max_length=255)
    reused_from: str | None = Field(default=None, max_length=40)
    added_at: datetime = moment_field()


class CitizenChallenge(IntakeModel, table=True):
    """A sign-in challenge: a one-time code sent to the contact of a dossier, kept only as a hash."""

    __tablename__ = "citizen_challenge"

    id: str = Field(primary_key=True, max_length=36)
    dossier_code: str = Field(foreign_key="dossier.code", index=True, max_length=40)
    code_hash: str = Field(max_length=64)
    channel: str = Field(max_length=10)
    created_at: datetime = moment_field()
    expires_at: datetime = moment_field(index=True)
    failed_tries: int = 0
    used_at: datetime | None = moment_field(optional=True)


class RateLimitHit(IntakeModel, table=True):
    """One counted request of a rate limit, shared by every replica; ``bucket`` is a hash of what is
    limited (a client IP or a dossier code), so the table keeps no address nor code in clear."""

    __tablename__ = "rate_limit_hit"

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(index=True, max_length=64)
    at: datetime = moment_field(index=True)


# Files waiting for their Object Store bucket (shared.bus.objects): the citizens' uploads.
object_upload = object_upload_table(metadata)
