"""Dossier operations: load, apply a rule from ``domain``, persist with the audit row and events.

Every change goes through ``_Change``: the dossier is locked, the actor's scope and the expected
revision are checked, and the history row, the revision bump and the outbox events are written in the
caller's one transaction. ``_Change.commit`` is the one place a status changes: it moves the dossier
as ``domain.TRANSITIONS`` says and writes the history row from the same two statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import domain, sla
from services.processing.catalog import get_version, procedure_of
from services.processing.directory import calendar_of
from services.processing.models import Dossier, DossierHistory, DossierStep, Unit
from shared.bus.outbox import Outbox
from shared.events import (
    Applicant,
    DocumentRef,
    DossierAccepted,
    DossierRated,
    DossierRefused,
    DossierRequestDeclined,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierStatus,
    DossierStepAssigned,
    DossierStepCompleted,
    DossierSubmitted,
    DossierSupplementProvided,
    DossierSupplementRequested,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    Event,
    ProcedureVersion,
    utc_now,
)
from shared.working_time import HOURS_PER_DAY, WorkingCalendar

S = DossierStatus
A = domain.Action
SYSTEM = domain.Actor(username="system", role="system", agency_code=None, unit_code=None)


class DossierNotFound(LookupError):
    pass


async def agency_of_unit(session: AsyncSession, unit_code: str) -> str:
    unit = await session.get(Unit, unit_code)
    if unit is None:
        raise LookupError(f"unit {unit_code} is not in the directory")
    return unit.agency_code


async def register(session: AsyncSession, *, event: DossierSubmitted) -> Dossier | None:
    """Register a submitted dossier in the receiving unit's queue, with its acceptance deadline."""
    if await session.get(Dossier, event.dossier_code) is not None:
        return None
    procedure = await get_version(session, code=event.procedure_code, version=event.procedure_version)
    if procedure is None:
        # Intake only accepts procedures processing published, so this is a lag, not a bad event.
        raise LookupError(f"procedure {event.procedure_code} v{event.procedure_version} is not known yet")
    calendar = await calendar_of(session, procedure)
    now = utc_now()
    receiving_unit = procedure.steps[0].unit_code
    dossier = Dossier(
        code=event.dossier_code,
        procedure_code=procedure.code,
        procedure_version=procedure.version,
        agency_code=event.agency_code,
        current_unit_code=receiving_unit,
        current_agency_code=await agency_of_unit(session, receiving_unit),
        status=S.RECEIVING,
        applicant=event.applicant.model_dump(mode="json"),
        documents=[document.model_dump(mode="json") for document in event.documents],
        channel=event.channel,
        submitted_at=event.submitted_at,
        registered_at=now,
        acceptance_due_at=domain.acceptance_deadline(event.submitted_at, calendar),
        last_action_at=now,
        revision=event.version,
    )
    session.add(dossier)
    await session.flush()
    session.add(
        DossierHistory(
            dossier_code=dossier.code,
            at=now,
            action="submitted",
            actor=f"citizen:{event.applicant.id_number}",
            actor_role="citizen",
            from_status=None,
            to_status=S.RECEIVING,
            note=f"Nộp trực tuyến ({event.channel})",
        )
    )
    return dossier


async def load_for_update(session: AsyncSession, *, code: str) -> Dossier:
    # FOR UPDATE on PostgreSQL makes two officers racing on one dossier take turns; SQLite's
    # BEGIN IMMEDIATE already serialises writers. The loser then meets the winner's state.
    statement = select(Dossier).where(Dossier.code == code).with_for_update()
    dossier = (await session.exec(statement)).first()
    if dossier is None:
        raise DossierNotFound(code)
    return dossier


async def steps_of(session: AsyncSession, code: str) -> list[DossierStep]:
    statement = (
        select(DossierStep).where(DossierStep.dossier_code == code).order_by(col(DossierStep.step_index))
    )
    return list((await session.exec(statement)).all())


@dataclass
class _Change:
    """One action on one dossier, inside the caller's transaction."""

    session: AsyncSession
    outbox: Outbox
    dossier: Dossier
    procedure: ProcedureVersion
    calendar: WorkingCalendar
    actor: domain.Actor
    now: datetime = field(default_factory=utc_now)
    events: list[Event] = field(default_factory=list)

    @property
    def status(self) -> DossierStatus:
        return DossierStatus(self.dossier.status)

    async def current_step(self) -> DossierStep:
        index = self.dossier.current_step_index
        step = None if index is None else await self._step(index)
        if step is None:
            raise domain.InvalidTransition("the dossier has no running step")
        return step

    async def _step(self, index: int) -> DossierStep | None:
        statement = select(DossierStep).where(
            DossierStep.dossier_code == self.dossier.code, DossierStep.step_index == index
        )
        return (await self.session.exec(statement)).first()

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

    def used_hours(self, step: DossierStep, until: datetime) -> float:
        elapsed = self.calendar.working_hours_between(step.started_at, until)
        return max(elapsed - step.paused_hours, 0.0)

    async def start_step(self, index: int, *, assignee: str | None = None) -> DossierStep:
        spec = self.procedure.steps[index]
        step = await self._step(index)
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
        step.assignee = assignee
        step.started_at = self.now
        step.due_at = domain.step_deadline(self.procedure, index, self.now, self.calendar)
        step.paused_hours = 0
        step.completed_at = step.completed_by = step.used_hours = None
        self.session.add(step)
        self.dossier.current_step_index = index
        self.dossier.current_unit_code = step.unit_code
        self.dossier.current_agency_code = step.agency_code
        return step

    def complete_step(self, step: DossierStep) -> None:
        step.completed_at = self.now
        step.completed_by = self.actor.username
        step.used_hours = round(self.used_hours(step, self.now), 4)
        self.session.add(step)
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
        self.session.add(self.dossier)
        self.session.add(
            DossierHistory(
                dossier_code=self.dossier.code,
                at=self.now,
                action=action.value,
                actor=self.actor.username,
                actor_role=self.actor.role,
                from_status=before,
                to_status=after,
                note=note,
            )
        )
        for item in self.events:
            # Every event of one change carries the revision the change produced.
            stamped = item.model_copy(update={"version": self.dossier.revision})
            if isinstance(item, DossierStepAssigned):
                stamped = stamped.model_copy(
                    update={"dossier_status": self.dossier.status, "dossier_due_at": self.dossier.due_at}
                )
            await self.outbox.add(self.session, stamped)
        # The clock moved (or stopped): re-arm the SLA timers for the state the dossier is now in.
        index = self.dossier.current_step_index
        step = None if index is None else await self._step(index)
        await sla.arm(
            self.session,
            self.outbox,
            dossier=self.dossier,
            step=step,
            procedure=self.procedure,
            calendar=self.calendar,
            now=self.now,
        )
        return self.dossier


async def _change(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    expected_revision: int | None = None,
    check_scope: bool = True,
) -> _Change:
    dossier = await load_for_update(session, code=code)
    # The revision first: an officer whose action was overtaken (the dossier moved on, perhaps to
    # another unit) hears that it changed meanwhile, which is what happened, not that it is out of
    # reach. Only staff reach here, and a revision tells nothing about the dossier's content.
    domain.require_revision(dossier.revision, expected_revision)
    if check_scope:
        domain.check_scope(
            actor, agency_code=dossier.current_agency_code, unit_code=dossier.current_unit_code
        )
    procedure = await procedure_of(session, dossier)
    return _Change(session, outbox, dossier, procedure, await calendar_of(session, procedure), actor)


# -- reception ----------------------------------------------------------------------------------------
async def accept(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    note: str | None,
    expected_revision: int | None = None,
) -> Dossier:
    """Accept the dossier: its due date is set, and reception (the first step) runs for the officer."""
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    dossier = change.dossier
    decision = domain.accept(
        status=change.status,
        now=change.now,
        acceptance_due_at=dossier.acceptance_due_at,
        procedure=change.procedure,
        calendar=change.calendar,
    )
    dossier.decided_at = change.now
    dossier.decided_by = actor.username
    dossier.due_at = decision.due_at
    dossier.late_acceptance = decision.late
    change.events.append(
        DossierAccepted(
            **change.notice(),
            accepted_at=change.now,
            due_at=decision.due_at,
            accepted_by=actor.username,
            late_acceptance=decision.late,
        )
    )
    change.step_assigned(await change.start_step(0, assignee=actor.username))
    return await change.commit(A.ACCEPT, note=note)


async def refuse(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    reason: str,
    expected_revision: int | None = None,
) -> Dossier:
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    dossier = change.dossier
    reason = domain.refuse(
        status=change.status,
        reason=reason,
        now=change.now,
        supplement_deadline_at=dossier.supplement_deadline_at,
    )
    dossier.decided_at = change.now
    dossier.decided_by = actor.username
    dossier.refusal_reason = reason
    change.events.append(
        DossierRefused(**change.notice(), refused_at=change.now, refused_by=actor.username, reason=reason)
    )
    return await change.commit(A.REFUSE, note=reason)


# -- steps ----------------------------------------------------------------------------------------------
async def claim(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    note: str | None,
    expected_revision: int | None = None,
) -> Dossier:
    """Take the current step: it is now this officer's."""
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    domain.require(change.status, A.CLAIM)
    step = await change.current_step()
    if step.assignee == actor.username:
        raise domain.InvalidTransition(f"the step {step.name!r} is already yours")
    domain.check_claimed_by(actor, step.assignee)
    step.assignee = actor.username
    change.session.add(step)
    change.step_assigned(step)
    return await change.commit(A.CLAIM, note=note or f"Nhận xử lý bước: {step.name}")


async def forward(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    note: str | None,
    expected_revision: int | None = None,
) -> Dossier:
    """Complete the current step; the next one starts for its unit, possibly in another agency."""
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    domain.require(change.status, A.FORWARD)
    step = await change.current_step()
    domain.check_claimed_by(actor, step.assignee)
    following = domain.check_forward(
        status=change.status, step_index=step.step_index, procedure=change.procedure
    )
    change.complete_step(step)
    change.step_assigned(await change.start_step(following))
    return await change.commit(A.FORWARD, note=note)


async def request_supplement(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    reason: str,
    items: list[str],
    deadline_at: datetime | None,
    expected_revision: int | None = None,
) -> Dossier:
    """Ask the citizen for what is missing; the clock stands still until it arrives."""
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    dossier = change.dossier
    domain.require(change.status, A.REQUEST_SUPPLEMENT)
    domain.check_claimed_by(actor, (await change.current_step()).assignee)
    reason = domain.required_text(reason, "say why the dossier is incomplete")
    cleaned = domain.check_supplement_request(
        status=change.status, items=items, deadline_at=deadline_at, now=change.now
    )
    deadline = deadline_at or change.calendar.deadline_after(
        change.now, change.procedure.supplement_days * HOURS_PER_DAY
    )
    dossier.paused_at = change.now
    dossier.supplement_deadline_at = deadline
    dossier.supplement_items = cleaned
    change.events.append(
        DossierSupplementRequested(
            **change.notice(), reason=reason, items=cleaned, deadline_at=deadline, requested_by=actor.username
        )
    )
    return await change.commit(A.REQUEST_SUPPLEMENT, note=reason)


async def supplement_provided(
    session: AsyncSession, outbox: Outbox, *, event: DossierSupplementProvided
) -> None:
    """The citizen's supplement arrived: the clocks resume (``pause``) or start again (``restart``)."""
    change = await _change(session, outbox, code=event.dossier_code, actor=SYSTEM, check_scope=False)
    dossier = change.dossier
    if change.status is not S.WAITING or dossier.paused_at is None:
        # Refused or withdrawn meanwhile: the citizen hears that this supplement was not taken.
        declined = DossierRequestDeclined(
            **change.notice(),
            request="supplement",
            request_event_id=event.event_id,
            requested_at=event.provided_at,
            declined_at=change.now,
            reason="not_awaited",
            dossier_status=change.status,
        )
        await outbox.add(session, declined)
        return
    step = await change.current_step()
    resumption = domain.resume(
        policy=change.procedure.supplement_policy,
        paused_at=dossier.paused_at,
        now=change.now,
        dossier_due_at=dossier.due_at,
        step_due_at=step.due_at,
        procedure=change.procedure,
        step_hours=step.allotted_hours,
        calendar=change.calendar,
    )
    dossier.due_at = resumption.dossier_due_at
    if resumption.restart_step:
        step.started_at = change.now
        step.paused_hours = 0
    else:
        step.paused_hours += resumption.paused_hours
    step.due_at = resumption.step_due_at if step.counted else None
    session.add(step)
    dossier.documents = [
        *dossier.documents,
        *(document.model_dump(mode="json") for document in event.documents),
    ]
    dossier.paused_at = None
    dossier.supplement_deadline_at = None
    change.step_assigned(step)
    # The citizen's copy tells a resumption from any other assignment by this flag alone.
    change.events[-1] = change.events[-1].model_copy(update={"resumed": True})
    names = ", ".join(document.name for document in event.documents) or "không kèm tệp"
    await change.commit(A.SUPPLEMENT_PROVIDED, note=f"Công dân bổ sung: {names}")


# -- resolution ---------------------------------------------------------------------------------------
_OUTCOMES: dict[domain.Action, Literal["approved", "rejected"]] = {
    A.APPROVE: "approved",
    A.REJECT: "rejected",
}


async def _resolve(
    change: _Change,
    *,
    action: Literal[domain.Action.APPROVE, domain.Action.REJECT],
    result: DocumentRef | None,
    reason: str | None,
    note: str | None,
) -> Dossier:
    """End processing: the result or the rejection is ready, and the return step starts."""
    dossier = change.dossier
    outcome = _OUTCOMES[action]
    domain.require(change.status, action)
    step = await change.current_step()
    domain.check_claimed_by(change.actor, step.assignee)
    domain.check_resolve(
        status=change.status, step_index=step.step_index, procedure=change.procedure, action=action
    )
    change.complete_step(step)
    assert dossier.due_at is not None
    dossier.resolved_at = change.now
    dossier.outcome = outcome
    dossier.result = None if result is None else result.model_dump(mode="json")
    dossier.rejection_reason = reason
    classification = domain.timeliness(
        resolved_at=change.now, due_at=dossier.due_at, rescheduled=dossier.rescheduled
    )
    dossier.timeliness = classification
    change.events.append(
        DossierResolved(
            **change.notice(),
            outcome=outcome,
            result=result,
            reason=reason,
            resolved_at=change.now,
            resolved_by=change.actor.username,
            due_at=dossier.due_at,
            timeliness=classification,
        )
    )
    returning = domain.return_step(change.procedure)
    if returning is not None:
        change.step_assigned(await change.start_step(returning))
    else:
        dossier.current_step_index = None
    return await change.commit(action, note=note or reason)


async def approve(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    result_name: str,
    note: str | None,
    expected_revision: int | None = None,
) -> Dossier:
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    result = DocumentRef(name=domain.required_text(result_name, "approve needs the result document's name"))
    return await _resolve(change, action=A.APPROVE, result=result, reason=None, note=note)


async def reject(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    reason: str,
    expected_revision: int | None = None,
) -> Dossier:
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    reason = domain.required_text(reason, "a rejection needs a reason the citizen can read")
    return await _resolve(change, action=A.REJECT, result=None, reason=reason, note=None)


async def return_result(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    note: str | None,
    expected_revision: int | None = None,
) -> Dossier:
    """Hand the result (or the rejection letter) to the citizen."""
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    domain.require(change.status, A.RETURN_RESULT)
    if change.dossier.current_step_index is not None:
        step = await change.current_step()
        domain.check_claimed_by(actor, step.assignee)
        change.complete_step(step)
    change.dossier.returned_at = change.now
    change.dossier.current_step_index = None
    change.events.append(
        DossierResultReturned(**change.notice(), returned_at=change.now, returned_by=actor.username)
    )
    return await change.commit(A.RETURN_RESULT, note=note)


async def reschedule(
    session: AsyncSession,
    outbox: Outbox,
    *,
    code: str,
    actor: domain.Actor,
    reason: str,
    new_due_at: datetime,
    expected_revision: int | None = None,
) -> Dossier:
    """The apology letter: one new appointment, with a reason, before the due date passes."""
    domain.check_may_reschedule(actor)
    change = await _change(session, outbox, code=code, actor=actor, expected_revision=expected_revision)
    dossier = change.dossier
    domain.require(change.status, A.RESCHEDULE)
    # The same claim rule as every step action, though today it lets every role that may reschedule
    # through: it keeps holding if that list ever takes in officers.
    if dossier.current_step_index is not None:
        domain.check_claimed_by(actor, (await change.current_step()).assignee)
    reason = domain.required_text(reason, "an apology letter needs a reason")
    domain.check_reschedule(
        status=change.status,
        now=change.now,
        due_at=dossier.due_at,
        new_due_at=new_due_at,
        rescheduled=dossier.rescheduled,
        calendar=change.calendar,
    )
    assert dossier.due_at is not None
    previous = dossier.due_at
    dossier.due_at = new_due_at
    dossier.rescheduled = True
    change.events.append(
        DossierRescheduled(
            **change.notice(),
            reason=reason,
            previous_due_at=previous,
            new_due_at=new_due_at,
            rescheduled_by=actor.username,
            unit_code=dossier.current_unit_code,
        )
    )
    return await change.commit(A.RESCHEDULE, note=reason)


# -- what the citizen asks through intake ----------------------------------------------------------------
async def withdraw(session: AsyncSession, outbox: Outbox, *, event: DossierWithdrawalRequested) -> None:
    change = await _change(session, outbox, code=event.dossier_code, actor=SYSTEM, check_scope=False)
    if change.status not in domain.WITHDRAWABLE:
        # Resolved (or ended) meanwhile: the result stands, and the citizen hears why.
        resolved = change.status in {S.RELEASING, S.DONE}
        declined = DossierRequestDeclined(
            **change.notice(),
            request="withdrawal",
            request_event_id=event.event_id,
            requested_at=event.requested_at,
            declined_at=change.now,
            reason="already_resolved" if resolved else "already_ended",
            dossier_status=change.status,
        )
        await outbox.add(session, declined)
        return
    change.dossier.withdrawn_at = change.now
    if change.dossier.current_step_index is not None:
        change.complete_step(await change.current_step())
        change.dossier.current_step_index = None
    change.events.append(DossierWithdrawn(**change.notice(), withdrawn_at=change.now, reason=event.reason))
    await change.commit(A.WITHDRAW, note=event.reason or "Công dân rút hồ sơ")


async def rate(session: AsyncSession, outbox: Outbox, *, event: DossierRated) -> None:
    change = await _change(session, outbox, code=event.dossier_code, actor=SYSTEM, check_scope=False)
    if change.status is not S.DONE or change.dossier.rating is not None:
        declined = DossierRequestDeclined(
            **change.notice(),
            request="rating",
            request_event_id=event.event_id,
            requested_at=event.rated_at,
            declined_at=change.now,
            reason="not_returned" if change.status is not S.DONE else "already_rated",
            dossier_status=change.status,
        )
        await outbox.add(session, declined)
        return
    change.dossier.rating = event.rating
    change.dossier.rating_reason = event.reason
    await change.commit(A.RATED, note=f"{event.rating}: {event.reason or ''}".strip(": "))


# -- reading ----------------------------------------------------------------------------------------------
async def get(session: AsyncSession, *, code: str) -> Dossier:
    dossier = await session.get(Dossier, code)
    if dossier is None:
        raise DossierNotFound(code)
    return dossier


async def history(session: AsyncSession, *, code: str) -> list[DossierHistory]:
    statement = (
        select(DossierHistory).where(DossierHistory.dossier_code == code).order_by(col(DossierHistory.id))
    )
    return list((await session.exec(statement)).all())


@dataclass(frozen=True)
class StepClock:
    step: DossierStep
    used_hours: float
    remaining_hours: float | None


async def step_clocks(session: AsyncSession, dossier: Dossier, *, now: datetime) -> list[StepClock]:
    """Allotted, used and remaining working time of every step started so far."""
    procedure = await procedure_of(session, dossier)
    calendar = await calendar_of(session, procedure)
    clocks = []
    for step in await steps_of(session, dossier.code):
        if step.used_hours is not None:
            used = step.used_hours
        else:
            # A waiting dossier's clock stands still where the supplement was asked.
            until = dossier.paused_at or now
            used = max(calendar.working_hours_between(step.started_at, until) - step.paused_hours, 0.0)
        remaining = round(step.allotted_hours - used, 4) if step.counted else None
        clocks.append(StepClock(step=step, used_hours=round(used, 4), remaining_hours=remaining))
    return clocks


async def worklist(
    session: AsyncSession,
    *,
    actor: domain.Actor,
    statuses: Sequence[int] | None,
    step_name: str | None,
    assignee: str | None,
    due_before: datetime | None,
    limit: int,
    offset: int,
) -> list[Dossier]:
    """The dossiers where the actor may act now, soonest deadline first."""
    statement: Any = select(Dossier)
    if actor.role == "leader":
        statement = statement.where(Dossier.current_agency_code == actor.agency_code)
    elif actor.role != "admin":
        statement = statement.where(Dossier.current_unit_code == actor.unit_code)
    open_statuses = [S.RECEIVING, S.NEW, S.PROCESSING, S.WAITING, S.PAYING, S.RELEASING]
    statement = statement.where(col(Dossier.status).in_(list(statuses) if statuses else open_statuses))
    if step_name is not None or assignee is not None:
        statement = statement.join(
            DossierStep,
            (DossierStep.dossier_code == Dossier.code)
            & (DossierStep.step_index == Dossier.current_step_index),
        )
        if step_name is not None:
            statement = statement.where(DossierStep.name == step_name)
        if assignee is not None:
            statement = statement.where(DossierStep.assignee == assignee)
    # The deadline that matters now: acceptance while new, then the dossier's due date.
    deadline = func.coalesce(col(Dossier.due_at), col(Dossier.acceptance_due_at))
    if due_before is not None:
        statement = statement.where(deadline < due_before)
    statement = statement.order_by(deadline, col(Dossier.code)).limit(limit).offset(offset)
    return list((await session.exec(statement)).all())
