"""Every event that crosses the bus, each in the one envelope.

The envelope's ``version`` is the revision of the thing the event is about: the dossier's revision
after the change (so projections can drop an out-of-order update), or the procedure's version number
for catalog events. ``event_id`` doubles as the ``Nats-Msg-Id`` and as the inbox key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Annotated, Literal, Union
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from shared.email_address import one_email_address_or_none


def utc_now() -> datetime:
    return datetime.now(UTC)


class DossierStatus(IntEnum):
    """The national portal's status codes; ``portal_name`` is the code name it uses."""

    RECEIVING = 1  # Mới đăng ký
    NEW = 2  # Được tiếp nhận
    DENIED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    WAITING = 5  # Yêu cầu bổ sung
    PAYING = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    CANCELLED = 7  # Rút hồ sơ
    UNRESOLVED = 8  # Dừng xử lý
    RELEASING = 9  # Đã xử lý xong
    DONE = 10  # Đã trả kết quả

    @property
    def portal_name(self) -> str:
        return self.name.lower()

    @property
    def vietnamese_name(self) -> str:
        return _VIETNAMESE_STATUS_NAMES[self]


_VIETNAMESE_STATUS_NAMES = {
    DossierStatus.RECEIVING: "Mới đăng ký",
    DossierStatus.NEW: "Được tiếp nhận",
    DossierStatus.DENIED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.WAITING: "Yêu cầu bổ sung",
    DossierStatus.PAYING: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.CANCELLED: "Rút hồ sơ",
    DossierStatus.UNRESOLVED: "Dừng xử lý",
    DossierStatus.RELEASING: "Đã xử lý xong",
    DossierStatus.DONE: "Đã trả kết quả",
}

_S = DossierStatus
# Where a dossier is still being worked on, and a step is running.
IN_PROGRESS: frozenset[DossierStatus] = frozenset({_S.NEW, _S.PROCESSING})
# Until these, the citizen may still withdraw: up to the resolution.
WITHDRAWABLE: frozenset[DossierStatus] = frozenset(
    {_S.RECEIVING, _S.NEW, _S.PROCESSING, _S.WAITING, _S.PAYING}
)
# Processing is over: the result (or the rejection) is ready, or handed over.
RESOLVED: frozenset[DossierStatus] = frozenset({_S.RELEASING, _S.DONE})
# Still on someone's desk: every status but the four ends (denied, cancelled, unresolved, done).
OPEN: frozenset[DossierStatus] = WITHDRAWABLE | {_S.RELEASING}


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


class Event(BaseModel):
    """The envelope every event shares; subclasses fix ``type`` and add their payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    occurred_at: datetime = Field(default_factory=utc_now)
    dossier_code: str | None = None
    version: int = 1

    @property
    def subject(self) -> str:
        return self.type

    def bus_headers(self) -> dict[str, str]:
        """Headers the message needs on the bus beyond the ids and the trace (e.g. a schedule)."""
        return {}


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


AlertKind = Literal["near_due", "overdue", "stalled"]


class AlertRecipient(Payload):
    """Who an alert is for: a member of staff by username, with the role that makes them the owner."""

    username: str
    role: str


class SlaAlert(Event):
    """An SLA alert about a dossier's step (``step_index`` set) or the dossier as a whole.

    ``rung`` is the escalation ladder's rung: 0 the step's officer (or the unit when unassigned),
    1 the unit's manager, 2 the agency's leader.
    """

    dossier_code: str
    procedure_code: str
    procedure_name: str
    level: Literal["step", "dossier"]
    step_index: int | None
    step_name: str | None
    agency_code: str
    unit_code: str
    owner: str | None
    due_at: datetime
    raised_at: datetime
    rung: int = 0
    recipients: list[AlertRecipient]


class AlertNearDue(SlaAlert):
    type: Literal["alert.near_due"] = "alert.near_due"


class AlertOverdue(SlaAlert):
    type: Literal["alert.overdue"] = "alert.overdue"


class AlertStalled(SlaAlert):
    type: Literal["alert.stalled"] = "alert.stalled"
    idle_since: datetime


class AlertEscalated(SlaAlert):
    type: Literal["alert.escalated"] = "alert.escalated"
    kind: AlertKind


class DirectoryPersonChanged(Event):
    """A member of staff as the directory now has them (processing owns the directory); notify keeps
    its own copy of who is who from these."""

    type: Literal["directory.person.changed"] = "directory.person.changed"
    username: str
    full_name: str
    role: str
    agency_code: str | None
    unit_code: str | None
    email: str | None
    active: bool


class CitizenOneTimeCodeIssued(Event):
    """A one-time code for a citizen's sign-in, issued by intake for notify to send to the contact
    the dossier already holds.

    It is the one event that carries a secret: it travels in a stream of its own that keeps it no
    longer than the code lives, and notify erases the message it sent once ``expires_at`` passes.
    """

    type: Literal["citizen.one_time_code.issued"] = "citizen.one_time_code.issued"
    dossier_code: str
    challenge_id: UUID
    code: str
    channel: Literal["sms", "email"]
    # The phone number or email address the dossier holds; the citizen is addressed by id_number.
    destination: str
    id_number: str
    expires_at: datetime


TimerKind = Literal["near_due", "due", "stalled", "escalation"]
# Outbox rows carrying this header are a purge marker: published to the SLA stream, then every
# message older than the marker on each subject filter of the header (space-separated) is purged.
PURGE_HEADER = "Motcua-Purge"
# The dossier revision a timer was armed at, in a header so that reading what is armed takes
# headers only (the server copies it onto the fired message too).
VERSION_HEADER = "Motcua-Version"


def subject_token(code: str) -> str:
    """A dossier code as one subject token (codes contain dots, which separate tokens)."""
    return code.replace(".", "_")


def timer_subjects(code: str) -> str:
    """Every timer subject of a dossier, as a subject filter."""
    return f"sla.timer.{subject_token(code)}.>"


class SlaTimer(Event):
    """An SLA timer, armed as a NATS scheduled message on its own subject so that arming it again
    replaces it; at ``fire_at`` the server publishes it to ``sla.fired.…``.

    ``event_id`` (the ``Nats-Msg-Id``) is new for every arm, never derived from what the timer
    carries: a timer lost from the stream and armed again the same way within the duplicate window
    must not be dropped as a duplicate of the lost one."""

    type: Literal["sla.timer"] = "sla.timer"
    dossier_code: str
    level: Literal["step", "dossier"]
    step_index: int | None
    kind: TimerKind
    rung: int = 0
    fire_at: datetime

    @property
    def slot(self) -> str:
        """Which timer of its dossier this is (``step.1.due.0``): its subject, less the dossier."""
        step = "d" if self.step_index is None else str(self.step_index)
        return f"{self.level}.{step}.{self.kind}.{self.rung}"

    @property
    def _suffix(self) -> str:
        return f"{subject_token(self.dossier_code)}.{self.slot}"

    @property
    def subject(self) -> str:
        return f"sla.timer.{self._suffix}"

    @property
    def target(self) -> str:
        return f"sla.fired.{self._suffix}"

    def bus_headers(self) -> dict[str, str]:
        # Milliseconds, rounded up: a timer never fires before its moment, and timers due within
        # one second fire spread over it rather than all at its end.
        moment = self.fire_at.astimezone(UTC)
        if moment.microsecond % 1000:
            moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "Nats-Schedule": f"@at {stamp}",
            "Nats-Schedule-Target": self.target,
            VERSION_HEADER: str(self.version),
        }


class SlaTimersCancelled(Event):
    """Timers of a dossier its new state no longer uses are dropped: the message is a marker on the
    SLA stream, and what ``filters`` match is purged up to the marker's sequence only. A purge
    published again (after a commit that failed) therefore never drops a timer armed after it.
    Without ``filters``, every timer of the dossier."""

    type: Literal["sla.cancel"] = "sla.cancel"
    dossier_code: str
    filters: list[str] = Field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"sla.cancel.{subject_token(self.dossier_code)}"

    def bus_headers(self) -> dict[str, str]:
        return {PURGE_HEADER: " ".join(self.filters or [timer_subjects(self.dossier_code)])}


_EVENT_CLASSES: tuple[type[Event], ...] = (
    ProcedurePublished,
    DossierSubmitted,
    DossierAccepted,
    DossierRefused,
    DossierStepAssigned,
    DossierStepCompleted,
    DossierSupplementRequested,
    DossierSupplementProvided,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    DossierResolved,
    DossierResultReturned,
    DossierRescheduled,
    DossierRated,
    DossierRequestDeclined,
    AlertNearDue,
    AlertOverdue,
    AlertStalled,
    AlertEscalated,
    DirectoryPersonChanged,
    CitizenOneTimeCodeIssued,
    SlaTimer,
)

# Any event, told apart by its ``type``: the union is built from the list above, so an event is
# listed once.
AnyEvent = Annotated[Union[_EVENT_CLASSES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
_ANY_EVENT: TypeAdapter[Event] = TypeAdapter(AnyEvent)

EVENT_TYPES: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in _EVENT_CLASSES}
# Every change of a dossier its applicant hears of, and every SLA alert, as the list above has them.
CITIZEN_NOTICES: tuple[type[CitizenNotice], ...] = tuple(
    cls for cls in _EVENT_CLASSES if issubclass(cls, CitizenNotice)
)
SLA_ALERTS: tuple[type[SlaAlert], ...] = tuple(cls for cls in _EVENT_CLASSES if issubclass(cls, SlaAlert))


def parse_event(raw: bytes | str) -> Event:
    """Turn a message body into its event; raises ``pydantic.ValidationError`` on a bad body."""
    return _ANY_EVENT.validate_json(raw)
