"""Intake's read copies, kept current from events: the catalog, and each dossier's status as the
citizen sees it (with its timeline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, DossierTimeline, ProcedureCopy
from shared.events import (
    DossierAccepted,
    DossierRefused,
    DossierRescheduled,
    DossierResolved,
    DossierResultReturned,
    DossierStatus,
    DossierStepAssigned,
    DossierSupplementRequested,
    DossierWithdrawn,
    Event,
    ProcedurePublished,
)
from shared.working_time import VN_TZ

S = DossierStatus


async def store_procedure(session: AsyncSession, *, event: ProcedurePublished) -> None:
    procedure = event.procedure
    if await session.get(ProcedureCopy, (procedure.code, procedure.version)) is not None:
        return
    session.add(
        ProcedureCopy(
            code=procedure.code,
            version=procedure.version,
            name=procedure.name,
            agency_code=procedure.agency_code,
            body=procedure.model_dump(mode="json"),
        )
    )


async def _apply(
    session: AsyncSession,
    event: Event,
    *,
    status: DossierStatus | None = None,
    timeline: str | None = None,
    **changes: Any,
) -> None:
    """Bring the status copy up to the event's revision and, for what the citizen hears of, add a
    timeline row. One change in processing can emit several events at the same revision, so an equal
    revision still applies; an older one (a late, out-of-order event) only adds its timeline row."""
    assert event.dossier_code is not None
    dossier = await session.get(Dossier, event.dossier_code)
    if dossier is None:
        return
    current = event.version >= dossier.revision
    if current:
        if status is not None:
            changes["status"] = status
        for name, value in changes.items():
            setattr(dossier, name, value)
        dossier.revision = event.version
        session.add(dossier)
    if timeline is not None:
        session.add(
            DossierTimeline(
                dossier_code=dossier.code,
                at=event.occurred_at,
                event_type=event.type,
                status=int(status if status is not None else dossier.status),
                note=timeline,
            )
        )


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%H:%M ngày %d/%m/%Y")


async def apply_accepted(session: AsyncSession, *, event: DossierAccepted) -> None:
    await _apply(
        session,
        event,
        status=S.NEW,
        timeline=f"Hồ sơ được tiếp nhận, hẹn trả kết quả {_hhmm(event.due_at)}",
        accepted_at=event.accepted_at,
        due_at=event.due_at,
    )


async def apply_refused(session: AsyncSession, *, event: DossierRefused) -> None:
    await _apply(
        session,
        event,
        status=S.DENIED,
        timeline=f"Hồ sơ không được tiếp nhận: {event.reason}",
        status_note=event.reason,
    )


async def apply_step_assigned(session: AsyncSession, *, event: DossierStepAssigned) -> None:
    dossier = await session.get(Dossier, event.dossier_code)
    resumed = dossier is not None and dossier.status == S.WAITING and event.dossier_status != S.WAITING
    changes: dict[str, Any] = {"current_step": event.step_name, "due_at": event.dossier_due_at}
    if resumed:
        changes.update(supplement_items=None, supplement_deadline_at=None)
    await _apply(
        session,
        event,
        status=DossierStatus(event.dossier_status),
        timeline="Đã nhận hồ sơ bổ sung, tiếp tục giải quyết" if resumed else None,
        **changes,
    )


async def apply_supplement_requested(session: AsyncSession, *, event: DossierSupplementRequested) -> None:
    await _apply(
        session,
        event,
        status=S.WAITING,
        timeline=f"Yêu cầu bổ sung: {'; '.join(event.items)} (hạn {_hhmm(event.deadline_at)}). "
        f"{event.reason}",
        supplement_items=event.items,
        supplement_deadline_at=event.deadline_at,
        status_note=event.reason,
    )


async def apply_withdrawn(session: AsyncSession, *, event: DossierWithdrawn) -> None:
    await _apply(
        session,
        event,
        status=S.CANCELLED,
        timeline="Hồ sơ đã được rút theo đề nghị của công dân",
        current_step=None,
    )


async def apply_resolved(session: AsyncSession, *, event: DossierResolved) -> None:
    if event.outcome == "approved":
        note = f"Đã có kết quả: {event.result.name if event.result else ''}".strip(": ")
    else:
        note = f"Hồ sơ bị từ chối giải quyết: {event.reason}"
    await _apply(
        session,
        event,
        status=S.RELEASING,
        timeline=note,
        resolved_at=event.resolved_at,
        result_name=event.result.name if event.result else None,
        timeliness=event.timeliness,
        status_note=event.reason,
    )


async def apply_result_returned(session: AsyncSession, *, event: DossierResultReturned) -> None:
    await _apply(
        session,
        event,
        status=S.DONE,
        timeline="Đã trả kết quả",
        returned_at=event.returned_at,
        current_step=None,
    )


async def apply_rescheduled(session: AsyncSession, *, event: DossierRescheduled) -> None:
    await _apply(
        session,
        event,
        timeline=f"Thư xin lỗi, hẹn lại ngày trả kết quả: {_hhmm(event.new_due_at)}. Lý do: {event.reason}",
        due_at=event.new_due_at,
    )
