"""What the citizen asks through intake, as processing carries it out: a submission registered,
a supplement taken, a withdrawal, a rating. Each arrives as an event; a request the dossier's state
no longer allows is declined with a reason the citizen hears (``domain.*_declined``).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import clocks, domain
from services.processing.catalog import get_version
from services.processing.changes import agency_of_unit, open_change
from services.processing.models import Dossier
from services.processing.working_calendar import calendar_of
from services.processing.writing import add_dossier
from shared.bus.outbox import Outbox
from shared.events import (
    DossierRated,
    DossierStatus,
    DossierSubmitted,
    DossierSupplementProvided,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    utc_now,
)

S = DossierStatus
A = domain.Action


async def register(session: AsyncSession, *, event: DossierSubmitted) -> Dossier | None:
    """Register a submitted dossier in the receiving unit's queue, with its acceptance deadline;
    ``None`` when it was registered before."""
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
        acceptance_due_at=clocks.acceptance_deadline(event.submitted_at, calendar),
        last_action_at=now,
        revision=event.version,
    )
    history = {
        "dossier_code": dossier.code,
        "at": now,
        "action": "submitted",
        "actor": f"citizen:{event.applicant.id_number}",
        "actor_role": "citizen",
        "from_status": None,
        "to_status": int(S.RECEIVING),
        "note": f"Nộp trực tuyến ({event.channel})",
    }
    return dossier if await add_dossier(session, dossier=dossier, history=history) else None


async def supplement_provided(
    session: AsyncSession, outbox: Outbox, *, event: DossierSupplementProvided
) -> None:
    """The citizen's supplement arrived: the clocks resume (``pause``) or start again (``restart``)."""
    change = await open_change(
        session, outbox, code=event.dossier_code, actor=domain.SYSTEM, check_scope=False
    )
    dossier = change.dossier
    declined = domain.supplement_declined(change.status, waiting=dossier.paused_at is not None)
    if declined is not None:
        # Refused or withdrawn meanwhile: the citizen hears that this supplement was not taken.
        await change.decline(
            "supplement", request_event_id=event.event_id, requested_at=event.provided_at, reason=declined
        )
        return
    assert dossier.paused_at is not None  # waiting, as supplement_declined checked
    step = change.current_step()
    resumption = clocks.resume(
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


async def withdraw(session: AsyncSession, outbox: Outbox, *, event: DossierWithdrawalRequested) -> None:
    change = await open_change(
        session, outbox, code=event.dossier_code, actor=domain.SYSTEM, check_scope=False
    )
    declined = domain.withdrawal_declined(change.status)
    if declined is not None:
        # Resolved (or ended) meanwhile: the result stands, and the citizen hears why.
        await change.decline(
            "withdrawal", request_event_id=event.event_id, requested_at=event.requested_at, reason=declined
        )
        return
    step = change.running_step()
    change.dossier.withdrawn_at = change.now
    if step is not None:
        change.complete_step(step)
        change.dossier.current_step_index = None
    change.events.append(DossierWithdrawn(**change.notice(), withdrawn_at=change.now, reason=event.reason))
    await change.commit(A.WITHDRAW, note=event.reason or "Công dân rút hồ sơ")


async def rate(session: AsyncSession, outbox: Outbox, *, event: DossierRated) -> None:
    change = await open_change(
        session, outbox, code=event.dossier_code, actor=domain.SYSTEM, check_scope=False
    )
    declined = domain.rating_declined(change.status, rated=change.dossier.rating is not None)
    if declined is not None:
        await change.decline(
            "rating", request_event_id=event.event_id, requested_at=event.rated_at, reason=declined
        )
        return
    change.dossier.rating = event.rating
    change.dossier.rating_reason = event.reason
    await change.commit(A.RATED, note=f"{event.rating}: {event.reason or ''}".strip(": "))
