"""SLA alerts: a dossier or step near its deadline, past it, or stalled, and who hears of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.events.base import Event
from shared.events.payloads import Payload

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
