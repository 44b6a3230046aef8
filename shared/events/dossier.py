"""The catalog's and the dossiers' events: what intake and processing tell each other and notify."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from shared.events.base import Event
from shared.events.payloads import Applicant, DocumentRef, ProcedureVersion


class ProcedurePublished(Event):
    type: Literal["catalog.procedure.published"] = "catalog.procedure.published"
    procedure: ProcedureVersion


class DossierSubmitted(Event):
    type: Literal["dossier.submitted"] = "dossier.submitted"
    dossier_code: str
    procedure_code: str
    procedure_version: int
    agency_code: str
    applicant: Applicant
    documents: list[DocumentRef]
    channel: Literal["online", "counter"]
    submitted_at: datetime


class CitizenNotice(Event):
    """An event about a dossier that its applicant hears of: it carries what a message needs."""

    dossier_code: str
    procedure_code: str
    procedure_name: str
    agency_name: str
    applicant: Applicant
    received_at: datetime


class DossierAccepted(CitizenNotice):
    type: Literal["dossier.accepted"] = "dossier.accepted"
    accepted_at: datetime
    due_at: datetime
    accepted_by: str
    late_acceptance: bool


class DossierRefused(CitizenNotice):
    type: Literal["dossier.refused"] = "dossier.refused"
    refused_at: datetime
    refused_by: str
    reason: str


Timeliness = Literal["early", "on_time", "late"]
Rating = Literal["very_satisfied", "satisfied", "dissatisfied"]


class DossierStepAssigned(Event):
    """A step of the internal workflow started for a unit (and an officer, once claimed)."""

    type: Literal["dossier.step.assigned"] = "dossier.step.assigned"
    dossier_code: str
    procedure_code: str
    step_index: int
    step_name: str
    agency_code: str
    unit_code: str
    assignee: str | None
    # Who made the change: nobody needs telling of a step they took themselves.
    assigned_by: str | None = None
    started_at: datetime
    due_at: datetime | None
    # Where the dossier as a whole stands, for the citizen's status copy.
    dossier_status: int
    dossier_due_at: datetime | None
    # The step runs on because the citizen's supplement (bổ sung) arrived.
    resumed: bool = False


class DossierStepCompleted(Event):
    type: Literal["dossier.step.completed"] = "dossier.step.completed"
    dossier_code: str
    step_index: int
    step_name: str
    unit_code: str
    completed_by: str
    completed_at: datetime
    used_hours: float
    allotted_hours: float


class DossierSupplementRequested(CitizenNotice):
    type: Literal["dossier.supplement.requested"] = "dossier.supplement.requested"
    reason: str
    items: list[str]
    deadline_at: datetime
    requested_by: str


class DossierSupplementProvided(Event):
    """The citizen sent what was asked for (from intake)."""

    type: Literal["dossier.supplement.provided"] = "dossier.supplement.provided"
    dossier_code: str
    documents: list[DocumentRef]
    note: str | None = None
    provided_at: datetime


class DossierWithdrawalRequested(Event):
    """The citizen asks to withdraw the dossier (from intake)."""

    type: Literal["dossier.withdrawal.requested"] = "dossier.withdrawal.requested"
    dossier_code: str
    reason: str | None = None
    requested_at: datetime


class DossierWithdrawn(CitizenNotice):
    type: Literal["dossier.withdrawn"] = "dossier.withdrawn"
    withdrawn_at: datetime
    reason: str | None = None


class DossierResolved(CitizenNotice):
    """Approved with a result document, or rejected with a reason; classified against the due date."""

    type: Literal["dossier.resolved"] = "dossier.resolved"
    outcome: Literal["approved", "rejected"]
    result: DocumentRef | None = None
    reason: str | None = None
    resolved_at: datetime
    resolved_by: str
    due_at: datetime
    timeliness: Timeliness


class DossierResultReturned(CitizenNotice):
    type: Literal["dossier.result.returned"] = "dossier.result.returned"
    returned_at: datetime
    returned_by: str
    # The result handed over was the electronic one (a PDF the citizen downloads), not paper.
    electronic: bool = False


class DossierRescheduled(CitizenNotice):
    """The apology letter (phiếu xin lỗi và hẹn lại ngày trả kết quả) with the new appointment."""

    type: Literal["dossier.rescheduled"] = "dossier.rescheduled"
    reason: str
    previous_due_at: datetime
    new_due_at: datetime
    rescheduled_by: str
    unit_code: str


class DossierRated(Event):
    """The citizen's satisfaction rating (from intake)."""

    type: Literal["dossier.rated"] = "dossier.rated"
    dossier_code: str
    rating: Rating
    reason: str | None = None
    rated_at: datetime


CitizenRequest = Literal["supplement", "withdrawal", "rating"]
DeclineReason = Literal["not_awaited", "already_resolved", "already_ended", "not_returned", "already_rated"]


class DossierRequestDeclined(CitizenNotice):
    """Processing could not act on what the citizen sent through intake, and says so instead of
    dropping it: a supplement no longer awaited, a withdrawal after the result, a rating that does not
    apply. ``version`` and ``dossier_status`` are the dossier's as processing has it, unchanged."""

    type: Literal["dossier.request.declined"] = "dossier.request.declined"
    request: CitizenRequest
    request_event_id: UUID
    requested_at: datetime
    declined_at: datetime
    reason: DeclineReason
    dossier_status: int
