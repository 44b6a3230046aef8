"""Every event that crosses the bus, each in the one envelope.

The envelope's ``version`` is the revision of the thing the event is about: the dossier's revision
after the change (so projections can drop an out-of-order update), or the procedure's version number
for catalog events. ``event_id`` doubles as the ``Nats-Msg-Id`` and as the inbox key.

The classes live in this package's modules by subject (``dossier``, ``alerts``, ``people``,
``timers``); the list below names each event once, and what reads events by type (the union
``parse_event`` validates against, ``EVENT_TYPES``, ``CITIZEN_NOTICES``, ``SLA_ALERTS``) is derived
from it. Import from ``shared.events``.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from shared.events.alerts import (
    AlertEscalated,
    AlertKind,
    AlertNearDue,
    AlertOverdue,
    AlertRecipient,
    AlertStalled,
    SlaAlert,
)
from shared.events.base import (
    Event,
    utc_now,
)
from shared.events.dossier import (
    CitizenNotice,
    CitizenRequest,
    DeclineReason,
    DossierAccepted,
    DossierRated,
    DossierRefused,
    DossierRequestDeclined,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierStepAssigned,
    DossierStepCompleted,
    DossierSubmitted,
    DossierSupplementProvided,
    DossierSupplementRequested,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    ProcedurePublished,
    Rating,
    Timeliness,
)
from shared.events.payloads import (
    Applicant,
    CalendarKind,
    DocumentKind,
    DocumentRef,
    Payload,
    ProcedureStep,
    ProcedureVersion,
    RequiredDocument,
    SupplementPolicy,
    TimeLimit,
    TimeUnit,
)
from shared.events.people import (
    CitizenOneTimeCodeIssued,
    DirectoryPersonChanged,
)
from shared.events.status import (
    IN_PROGRESS,
    OPEN,
    RESOLVED,
    WITHDRAWABLE,
    DossierStatus,
)
from shared.events.timers import (
    PURGE_HEADER,
    VERSION_HEADER,
    SlaTimer,
    SlaTimersCancelled,
    TimerKind,
    subject_token,
    timer_slot,
    timer_subjects,
)

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


__all__ = [
    "CITIZEN_NOTICES",
    "EVENT_TYPES",
    "IN_PROGRESS",
    "OPEN",
    "PURGE_HEADER",
    "RESOLVED",
    "SLA_ALERTS",
    "VERSION_HEADER",
    "WITHDRAWABLE",
    "AlertEscalated",
    "AlertKind",
    "AlertNearDue",
    "AlertOverdue",
    "AlertRecipient",
    "AlertStalled",
    "AnyEvent",
    "Applicant",
    "CalendarKind",
    "CitizenNotice",
    "CitizenOneTimeCodeIssued",
    "CitizenRequest",
    "DeclineReason",
    "DirectoryPersonChanged",
    "DocumentKind",
    "DocumentRef",
    "DossierAccepted",
    "DossierRated",
    "DossierRefused",
    "DossierRequestDeclined",
    "DossierRescheduled",
    "DossierResolved",
    "DossierResultReturned",
    "DossierStatus",
    "DossierStepAssigned",
    "DossierStepCompleted",
    "DossierSubmitted",
    "DossierSupplementProvided",
    "DossierSupplementRequested",
    "DossierWithdrawalRequested",
    "DossierWithdrawn",
    "Event",
    "Payload",
    "ProcedurePublished",
    "ProcedureStep",
    "ProcedureVersion",
    "Rating",
    "RequiredDocument",
    "SlaAlert",
    "SlaTimer",
    "SlaTimersCancelled",
    "SupplementPolicy",
    "TimeLimit",
    "TimeUnit",
    "Timeliness",
    "TimerKind",
    "parse_event",
    "subject_token",
    "timer_slot",
    "timer_subjects",
    "utc_now",
]
