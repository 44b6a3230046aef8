"""What events carry besides their envelope: the applicant, documents and procedure versions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.email_address import one_email_address_or_none


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Applicant(Payload):
    full_name: str
    id_number: str
    phone: str | None = None
    # Exactly one address (see ``shared.email_address``); intake refuses anything else. An event
    # written before that rule still parses, and a list it carries is never written to.
    email: str | None = None
    address: str | None = None

    @field_validator("email")
    @classmethod
    def _one_email_address(cls, value: str | None) -> str | None:
        return one_email_address_or_none(value)


DocumentKind = Literal["digital", "scan", "reused"]


class DocumentRef(Payload):
    """A document of a dossier: a digital original, a scan (digitised), or reused from an earlier
    dossier of the same citizen. Uploaded content is stored by its sha256."""

    name: str
    kind: DocumentKind = "digital"
    sha256: str | None = None
    media_type: str | None = None
    size: int | None = None
    reused_from: str | None = None


TimeUnit = Literal["working_day", "working_hour", "calendar_day", "minute"]
CalendarKind = Literal["working", "calendar_days", "always"]


class TimeLimit(Payload):
    value: float
    unit: TimeUnit


class RequiredDocument(Payload):
    name: str
    required: bool = True
    originals: int = 0
    copies: int = 1


class ProcedureStep(Payload):
    name: str
    unit_code: str
    hours: float
    counted: bool = True


SupplementPolicy = Literal["pause", "restart"]


class ProcedureVersion(Payload):
    """A procedure as published by processing, which owns the catalog.

    ``supplement_policy``: while the citizen completes the dossier (bổ sung), the clock either
    pauses, or the whole time limit starts again once the supplement arrives.
    """

    code: str
    version: int
    name: str
    field: str
    agency_code: str
    agency_name: str
    level: Literal["full", "partial"]
    fee: str
    time_limit: TimeLimit
    total_hours: float
    calendar: CalendarKind
    documents: list[RequiredDocument]
    steps: list[ProcedureStep]
    supplement_policy: SupplementPolicy = "pause"
    # Working days the citizen has to send a requested supplement, unless the officer sets a date.
    supplement_days: float = 5
    # Working hours without any action on an assigned step before it counts as stalled.
    stall_hours: float = 8
    # Escalation ladder: working hours past a step's due time before rung 1 (the unit's manager) and
    # rung 2 (the agency's leader) are alerted; rung 0 (the step's officer) is the overdue alert itself.
    escalation_hours: list[float] = Field(default_factory=lambda: [4.0, 8.0])
