"""One change to one dossier, inside the caller's transaction.

``open_change`` locks the dossier, checks the expected revision and the actor's scope, and loads its
procedure and calendar. ``Change.commit`` is the one place a status changes: it moves the dossier as
``domain.TRANSITIONS`` says, writes the history row from the same two statuses, stamps the events
with the new revision and re-arms the SLA timers; then it writes the change's rows
(``writing.write_change``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import clocks, domain, sla
from services.processing.catalog import procedure_of
from services.processing.models import Dossier, DossierStep, Unit
from services.processing.working_calendar import calendar_of
from services.processing.writing import read_for_change, write_change
from shared.bus.outbox import Outbox
from shared.db import memo_of
from shared.errors import NotFound
from shared.events import (
    Applicant,
    CitizenRequest,
    DeclineReason,
    DossierRequestDeclined,
    DossierStatus,
    DossierStepAssigned,
    DossierStepCompleted,
    Event,
    ProcedureVersion,
    utc_now,
)
from shared.staff import Staff
from shared.working_time import WorkingCalendar


class DossierNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__(f"dossier {code} not found")
        self.code = code


async def agency_of_unit(session: AsyncSession, unit_code: str) -> str:
    """The unit's agency, which never changes (``UnitUpdate``): read once per process."""
    memo = memo_of(session)
    key = ("agency of unit", unit_code)
    if (known := memo.get(key)) is not None:
        return cast(str, known)
    unit = await session.get(Unit, unit_code)
    if unit is None:
        raise LookupError(f"unit {unit_code} is not in the directory")
    memo[key] = unit.agency_code
    return unit.agency_code


@dataclass
class Change:
    """One action on one dossier, inside the caller's transaction."""

    session: AsyncSession
    outbox: Outbox
    dossier: Dossier
    procedure: ProcedureVersion
    calendar: WorkingCalendar
    actor: Staff
    # Every step the dossier has started so far, read once when the change opens.
    steps: dict[int, DossierStep] = field(default_factory=dict)
    now: datetime = field(default_factory=utc_now)
    events: list[Event] = field(default_factory=list)

    @property
    def status(self) -> DossierStatus:
        return DossierStatus(self.dossier.status)

    def current_step(self) -> DossierStep:
        step = self.running_step()
        if step is None:
            raise domain.InvalidTransition("the dossier has no running step")
        return step

    def running_step(self) -> DossierStep | None:
        """The current step, or ``None`` when none runs (before acceptance, after the result)."""
        index = self.dossier.current_step_index
        return None if index is None else self.steps.get(index)

    def notice(self) -> dict[str, Any]:
        """What every citizen-facing event about this dossier carries (see ``CitizenNotice``)."""
        return {
            "dossier_code": self.dossier.code,
            "version": self.dossier.revision,
            "procedure_code": self.procedure.code,
            "procedure_name": self.procedure.name,
            "agency_name": self.procedure.agency_name,
            "applicant": Applicant.model_validate(self.dossier.applicant),
            "received_at": self.dossier.submitted_at,
        }

    async def decline(
        self,
        request: CitizenRequest,
        *,
        request_event_id: UUID,
        requested_at: datetime,
        reason: DeclineReason,
    ) -> None:
        """Turn down what the citizen asked through intake, saying why; the dossier stays as it is."""
        declined = DossierRequestDeclined(
            **self.notice(),
            request=request,
            request_event_id=request_event_id,
            requested_at=requested_at,
            declined_at=self.now,
            reason=reason,
            dossier_status=self.status,
        )
        await self.outbox.add(self.session, declined)

    def used_hours(self, step: DossierStep, until: datetime) -> float:
        elapsed = self.calendar.working_hours_between(step.started_at, until)
        return max(elapsed - step.paused_hours, 0.0)

    async def start_step(self, index: int, *, assignee: str | None = None) -> DossierStep:
        spec = self.procedure.steps[index]
        step = self.steps.get(index)
        if step is None:
            step = DossierStep(
                dossier_code=self.dossier.code,
                step_index=index,
                name=spec.name,
                unit_code=spec.unit_code,
                agency_code=await agency_of_unit(self.session, spec.unit_code),
                allotted_hours=spec.hours,
                counted=spec.counted,
                started_at=self.now,
            )
            self.steps[index] = step
        step.assignee = assignee
        step.started_at = self.now
        step.due_at = clocks.step_deadline(self.procedure, index, self.now, self.calendar)
        step.paused_hours = 0
        step.completed_at = step.completed_by = step.used_hours = None
        self.dossier.current_step_index = index
        self.dossier.current_unit_code = step.unit_code
        self.dossier.current_agency_code = step.agency_code
        return step

    def complete_step(self, step: DossierStep) -> None:
        step.completed_at = self.now
        step.completed_by = self.actor.username
        step.used_hours = round(self.used_hours(step, self.now), 4)
        self.events.append(
            DossierStepCompleted(
                dossier_code=self.dossier.code,
                step_index=step.step_index,
                step_name=step.name,
                unit_code=step.unit_code,
                completed_by=self.actor.username,
                completed_at=self.now,
                used_hours=step.used_hours,
                allotted_hours=step.allotted_hours,
            )
        )

    def step_assigned(self, step: DossierStep) -> None:
        self.events.append(
            DossierStepAssigned(
                dossier_code=self.dossier.code,
                procedure_code=self.procedure.code,
                step_index=step.step_index,
                step_name=step.name,
                agency_code=step.agency_code,
                unit_code=step.unit_code,
                assignee=step.assignee,
                assigned_by=self.actor.username,
                started_at=step.started_at,
                due_at=step.due_at,
                dossier_status=self.dossier.status,
                dossier_due_at=self.dossier.due_at,
            )
        )

    async def commit(self, action: domain.Action, *, note: str | None = None) -> Dossier:
        """Record the transition: status, revision, audit row, then the events at that revision.

        The status before and after are read here and nowhere else, so the audit row says what
        really happened; the target is the table's, so no caller can move a dossier elsewhere."""
        before = self.status
        after = domain.transition(before, action)
        self.dossier.status = after
        self.dossier.revision += 1
        self.dossier.last_action_at = self.now
        history = {
            "dossier_code": self.dossier.code,
            "at": self.now,
            "action": action.value,
            "actor": self.actor.username,
            "actor_role": self.actor.role,
            "from_status": int(before),
            "to_status": int(after),
            "note": note,
        }
        # Every event of one change carries the revision the change produced.
        stamped = [self._stamped(item) for item in self.events]
        # The clock moved (or stopped): re-arm the SLA timers for the state the dossier is now in.
        timers = sla.rearm(
            dossier=self.dossier,
            step=self.running_step(),
            procedure=self.procedure,
            calendar=self.calendar,
            now=self.now,
        )
        await self.outbox.add(self.session, *stamped, *timers)
        await write_change(self.session, dossier=self.dossier, steps=self.steps.values(), history=history)
        return self.dossier

    def _stamped(self, item: Event) -> Event:
        update: dict[str, Any] = {"version": self.dossier.revision}
        if isinstance(item, DossierStepAssigned):
            update |= {"dossier_status": self.dossier.status, "dossier_due_at": self.dossier.due_at}
        return item.model_copy(update=update)


async def open_change(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: Staff,
    expected_revision: int | None = None,
    check_scope: bool = True,
) -> Change:
    found = await read_for_change(session, code)
    if found is None:
        raise DossierNotFound(code)
    dossier, steps = found
    # The revision first: an officer whose action was overtaken (the dossier moved on, perhaps to
    # another unit) hears that it changed meanwhile, which is what happened, not that it is out of
    # reach. Only staff reach here, and a revision tells nothing about the dossier's content.
    domain.require_revision(dossier.revision, expected_revision)
    if check_scope:
        domain.check_scope(
            actor, agency_code=dossier.current_agency_code, unit_code=dossier.current_unit_code
        )
    procedure = await procedure_of(session, dossier)
    calendar = await calendar_of(session, procedure)
    return Change(
        session, outbox, dossier, procedure, calendar, actor, {step.step_index: step for step in steps}
    )
