"""What staff do to a dossier: one handler per command, and ``execute``, which runs any of them.

``execute`` does what every action shares, in this order: the role the action needs, the dossier
locked at the expected revision and within the actor's scope, the status the table allows, and the
claim on the running step. A handler then applies its own rule from ``domain`` and commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import clocks, domain
from services.processing.changes import Change, open_change
from services.processing.commands import (
    Accept,
    Approve,
    Claim,
    Command,
    Forward,
    Refuse,
    Reject,
    RequestSupplement,
    Reschedule,
    ReturnResult,
)
from services.processing.models import Dossier
from shared.bus.outbox import Outbox
from shared.events import (
    DocumentRef,
    DossierAccepted,
    DossierRefused,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierSupplementRequested,
)
from shared.staff import Staff
from shared.working_time import HOURS_PER_DAY

A = domain.Action


async def execute(session: AsyncSession, outbox: Outbox, *, actor: Staff, command: Command) -> Dossier:
    """Carry out ``command`` as ``actor`` in the caller's transaction; the dossier as it now stands."""
    domain.check_role(actor, command.action)
    change = await open_change(
        session, outbox, code=command.code, actor=actor, expected_revision=command.expected_revision
    )
    domain.require(change.status, command.action)
    if command.action in domain.CLAIM_GUARDED:
        step = change.running_step()
        if step is not None:
            domain.check_claimed_by(actor, step.assignee)
    handler: Callable[[Change, Any], Awaitable[Dossier]] = HANDLERS[type(command)]
    return await handler(change, command)


# -- reception ----------------------------------------------------------------------------------------
async def accept(change: Change, command: Accept) -> Dossier:
    """Accept the dossier: its due date is set, and reception (the first step) runs for the officer."""
    dossier = change.dossier
    decision = domain.accept(
        status=change.status,
        now=change.now,
        acceptance_due_at=dossier.acceptance_due_at,
        procedure=change.procedure,
        calendar=change.calendar,
    )
    dossier.decided_at = change.now
    dossier.decided_by = change.actor.username
    dossier.due_at = decision.due_at
    dossier.late_acceptance = decision.late
    change.events.append(
        DossierAccepted(
            **change.notice(),
            accepted_at=change.now,
            due_at=decision.due_at,
            accepted_by=change.actor.username,
            late_acceptance=decision.late,
        )
    )
    change.step_assigned(await change.start_step(0, assignee=change.actor.username))
    return await change.commit(A.ACCEPT, note=command.note)


async def refuse(change: Change, command: Refuse) -> Dossier:
    dossier = change.dossier
    reason = domain.refuse(
        status=change.status,
        reason=command.reason,
        now=change.now,
        supplement_deadline_at=dossier.supplement_deadline_at,
    )
    dossier.decided_at = change.now
    dossier.decided_by = change.actor.username
    dossier.refusal_reason = reason
    change.events.append(
        DossierRefused(
            **change.notice(), refused_at=change.now, refused_by=change.actor.username, reason=reason
        )
    )
    return await change.commit(A.REFUSE, note=reason)


# -- steps ----------------------------------------------------------------------------------------------
async def claim(change: Change, command: Claim) -> Dossier:
    """Take the current step: it is now this officer's."""
    step = change.current_step()
    domain.check_claim(change.actor, step.assignee, step_name=step.name)
    step.assignee = change.actor.username
    change.step_assigned(step)
    return await change.commit(A.CLAIM, note=command.note or f"Nhận xử lý bước: {step.name}")


async def forward(change: Change, command: Forward) -> Dossier:
    """Complete the current step; the next one starts for its unit, possibly in another agency."""
    step = change.current_step()
    following = domain.check_forward(
        status=change.status, step_index=step.step_index, procedure=change.procedure
    )
    change.complete_step(step)
    change.step_assigned(await change.start_step(following))
    return await change.commit(A.FORWARD, note=command.note)


async def request_supplement(change: Change, command: RequestSupplement) -> Dossier:
    """Ask the citizen for what is missing; the clock stands still until it arrives."""
    dossier = change.dossier
    change.current_step()
    reason = domain.required_text(command.reason, "say why the dossier is incomplete")
    cleaned = domain.check_supplement_request(
        status=change.status, items=command.items, deadline_at=command.deadline_at, now=change.now
    )
    deadline = command.deadline_at or change.calendar.deadline_after(
        change.now, change.procedure.supplement_days * HOURS_PER_DAY
    )
    dossier.paused_at = change.now
    dossier.supplement_deadline_at = deadline
    dossier.supplement_items = cleaned
    change.events.append(
        DossierSupplementRequested(
            **change.notice(),
            reason=reason,
            items=cleaned,
            deadline_at=deadline,
            requested_by=change.actor.username,
        )
    )
    return await change.commit(A.REQUEST_SUPPLEMENT, note=reason)


# -- resolution ---------------------------------------------------------------------------------------
_OUTCOMES: Mapping[domain.Action, Literal["approved", "rejected"]] = {
    A.APPROVE: "approved",
    A.REJECT: "rejected",
}


async def _resolve(
    change: Change,
    *,
    action: Literal[domain.Action.APPROVE, domain.Action.REJECT],
    result: DocumentRef | None,
    reason: str | None,
    note: str | None,
) -> Dossier:
    """End processing: the result or the rejection is ready, and the return step starts."""
    dossier = change.dossier
    outcome = _OUTCOMES[action]
    step = change.current_step()
    domain.check_resolve(
        status=change.status, step_index=step.step_index, procedure=change.procedure, action=action
    )
    change.complete_step(step)
    assert dossier.due_at is not None
    dossier.resolved_at = change.now
    dossier.outcome = outcome
    dossier.result = None if result is None else result.model_dump(mode="json")
    dossier.rejection_reason = reason
    classification = clocks.timeliness(
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


async def approve(change: Change, command: Approve) -> Dossier:
    name = domain.required_text(command.result.name, "approve needs the result document's name")
    stored = command.result_file
    result = DocumentRef(name=name) if stored is None else stored.model_copy(update={"name": name})
    # An electronic result (a stored PDF) is what the 766 scorecard's indicator 4.1 counts.
    change.dossier.electronic_result = stored is not None
    return await _resolve(change, action=A.APPROVE, result=result, reason=None, note=command.note)


async def reject(change: Change, command: Reject) -> Dossier:
    reason = domain.required_text(command.reason, "a rejection needs a reason the citizen can read")
    return await _resolve(change, action=A.REJECT, result=None, reason=reason, note=None)


async def return_result(change: Change, command: ReturnResult) -> Dossier:
    """Hand the result (or the rejection letter) to the citizen."""
    step = change.running_step()
    if step is not None:
        change.complete_step(step)
    change.dossier.returned_at = change.now
    change.dossier.current_step_index = None
    change.events.append(
        DossierResultReturned(
            **change.notice(),
            returned_at=change.now,
            returned_by=change.actor.username,
            electronic=change.dossier.electronic_result,
        )
    )
    return await change.commit(A.RETURN_RESULT, note=command.note)


async def reschedule(change: Change, command: Reschedule) -> Dossier:
    """The apology letter: one new appointment, with a reason, before the due date passes."""
    dossier = change.dossier
    reason = domain.required_text(command.reason, "an apology letter needs a reason")
    domain.check_reschedule(
        status=change.status,
        now=change.now,
        due_at=dossier.due_at,
        new_due_at=command.new_due_at,
        rescheduled=dossier.rescheduled,
        calendar=change.calendar,
    )
    assert dossier.due_at is not None
    previous = dossier.due_at
    dossier.due_at = command.new_due_at
    dossier.rescheduled = True
    change.events.append(
        DossierRescheduled(
            **change.notice(),
            reason=reason,
            previous_due_at=previous,
            new_due_at=command.new_due_at,
            rescheduled_by=change.actor.username,
            unit_code=dossier.current_unit_code,
        )
    )
    return await change.commit(A.RESCHEDULE, note=reason)


# The one list of what staff can do: the routes are registered from it, one per command.
HANDLERS: Mapping[type[Command], Callable[[Change, Any], Awaitable[Dossier]]] = {
    Accept: accept,
    Refuse: refuse,
    Claim: claim,
    Forward: forward,
    RequestSupplement: request_supplement,
    Approve: approve,
    Reject: reject,
    ReturnResult: return_result,
    Reschedule: reschedule,
}
