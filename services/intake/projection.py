"""Intake's read copies, kept current from events: the catalog, and each dossier as the citizen sees
it, with its timeline.

The invariant: whatever order a dossier's events arrive in, and however often each is delivered,
the copy ends the same (the status, every field and the timeline). It holds because:

- Every event carries the revision of processing's dossier after the change that emitted it; the
  events of one change share that revision and agree on what they both say (status, due date).
- The copy's fields fall in groups (status, due date, current step, status note, supplement
  request), each with the revision that last wrote it. An event writes a group only when its
  revision is at least the group's, so each group ends as the newest change left it: a
  last-writer-wins register per group, where an equal revision writes the same values again.
- Fields that one event writes once in a dossier's life (acceptance, resolution, hand-over) are
  written whenever that event arrives.
- The timeline has one row per event the citizen hears of (the inbox keeps redeliveries out). A
  row's text comes from its event alone; the status a row shows is the dossier's at the row's
  revision, read from the status changes heard of (``DossierStatusChange``) when the timeline is
  shown, so an event that arrives late also fills in the status of rows written before it.
- Intake's own writes stay out of processing's groups: the submission is revision 1, and a
  supplement, a withdrawal request or a rating the citizen sent is intake's record in fields of its
  own, which only processing's ``dossier.request.declined`` of that very request undoes.
- Each event locks its dossier's row, so two events of one dossier handled at once take turns.

A transaction's events are applied together (``applying``): their dossiers are locked and read by
one statement, each changed dossier is written once, and the timeline rows and status changes they
bring are written by one statement each, so that a batch costs a few round trips to the database
rather than a few per event. These statements run on the driver (``DriverStatement``): they are
most of intake's work on the bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import Dossier, DossierStatusChange, DossierTimeline, ProcedureCopy
from shared.db import table_of
from shared.driver_statements import DriverInsert, DriverStatement, PerCount, numbered, numbered_values
from shared.events import (
    DossierAccepted,
    DossierRefused,
    DossierRequestDeclined,
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
from shared.vietnam_time import vn_datetime

S = DossierStatus

# Each group of fields has a ``{group}_revision`` column on the dossier.
GROUPS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "due": ("due_at",),
    "step": ("current_step",),
    "note": ("status_note",),
    "supplement": ("supplement_items", "supplement_deadline_at"),
}
_GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}


_APPLYING = "intake.projection.applying"
_DOSSIERS = table_of(Dossier)
# What applying an event reads of the copy: the revisions, the status a timeline row shows when its
# event says none, and intake's records of the citizen's requests, which a decline may undo.
_HELD = (
    "code",
    "status",
    "revision",
    *(f"{group}_revision" for group in GROUPS),
    "supplement_provided_for",
    "withdrawal_requested_at",
    "rated_at",
)
# Locking the batch's dossiers, by their number.
_LOCKING = PerCount(
    lambda count: (
        select(*(_DOSSIERS.c[name] for name in _HELD))
        .where(_DOSSIERS.c.code.in_(numbered("code", count, String())))
        .order_by(_DOSSIERS.c.code)
        .with_for_update()
    )
)
# The changed columns are the statement's parameters besides ``dossier``: one SQL per set of them.
_WRITE = DriverStatement(update(_DOSSIERS).where(_DOSSIERS.c.code == bindparam("dossier")))
_ADD_TO_TIMELINE = DriverStatement(insert(table_of(DossierTimeline)))
_RECORD_STATUS_CHANGES = DriverInsert(
    table_of(DossierStatusChange),
    ("dossier_code", "revision", "status"),
    skip_duplicates=True,
)


class DossierCopy:
    """A locked dossier's copy as the batch's events leave it: the columns read (``_HELD``), and
    those the events changed, to be written once the batch is applied."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.code: str = values["code"]
        self._values = values
        self.changed: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._values or self._values[name] != value:
            self._values[name] = self.changed[name] = value


@dataclass
class _Applying:
    """What one transaction's events share: their dossiers, locked, the timeline rows they add, and
    the status changes heard of, by (dossier, revision), the first of each kept as a statement each
    would have kept it."""

    dossiers: dict[str, DossierCopy]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    status_changes: dict[tuple[str, int], int] = field(default_factory=dict)


@asynccontextmanager
async def applying(session: AsyncSession, events: Sequence[Event]) -> AsyncIterator[None]:
    """Apply ``events`` in ``session`` together: their dossiers locked first, in code order (as
    every batch locks them, so that two never deadlock), and what they changed written last."""
    codes = sorted({event.dossier_code for event in events if event.dossier_code is not None})
    rows = await _LOCKING[len(codes)].rows(session, numbered_values("code", codes)) if codes else []
    dossiers = {copy.code: copy for copy in (DossierCopy(dict(zip(_HELD, row, strict=True))) for row in rows)}
    batch = session.info[_APPLYING] = _Applying(dossiers)
    try:
        yield
        for copy in dossiers.values():
            if copy.changed:
                await _WRITE.run(session, {**copy.changed, "dossier": copy.code})
        await _ADD_TO_TIMELINE.run_many(session, batch.timeline)
        changes = [
            {"dossier_code": code, "revision": revision, "status": status}
            for (code, revision), status in batch.status_changes.items()
        ]
        await _RECORD_STATUS_CHANGES.rows(session, changes)
    finally:
        del session.info[_APPLYING]


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
    once: dict[str, Any] | None = None,
    **changes: Any,
) -> DossierCopy | None:
    """Write the event's groups that are not newer in the copy, its once-only fields, its status
    change and its timeline row; returns the locked dossier (None when intake has no such dossier)."""
    assert event.dossier_code is not None
    batch: _Applying = session.info[_APPLYING]
    dossier = batch.dossiers.get(event.dossier_code)
    if dossier is None:
        return None
    if status is not None:
        changes["status"] = int(status)
    written = {group for group in map(_GROUP_OF.__getitem__, changes) if _current(dossier, group, event)}
    for name, value in changes.items():
        if _GROUP_OF[name] in written:
            dossier[name] = value
    for group in written:
        dossier[f"{group}_revision"] = event.version
    for name, value in (once or {}).items():
        dossier[name] = value
    dossier["revision"] = max(dossier["revision"], event.version)
    if status is not None:
        batch.status_changes.setdefault((dossier.code, event.version), int(status))
    if timeline is not None:
        batch.timeline.append(
            {
                "dossier_code": dossier.code,
                "at": event.occurred_at,
                "event_type": event.type,
                # What is known now; the timeline shows the status at ``revision`` once known.
                "status": int(status if status is not None else dossier["status"]),
                "note": timeline,
                "revision": event.version,
            }
        )
    return dossier


def _current(dossier: DossierCopy, group: str, event: Event) -> bool:
    revision: int = dossier[f"{group}_revision"]
    return event.version >= revision


async def apply_accepted(session: AsyncSession, *, event: DossierAccepted) -> None:
    await _apply(
        session,
        event,
        status=S.NEW,
        timeline=f"Hồ sơ được tiếp nhận, hẹn trả kết quả {vn_datetime(event.due_at)}",
        once={"accepted_at": event.accepted_at},
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
    # The supplement request's fields stay as they were: the citizen sees them only while waiting.
    await _apply(
        session,
        event,
        status=DossierStatus(event.dossier_status),
        timeline="Đã nhận hồ sơ bổ sung, tiếp tục giải quyết" if event.resumed else None,
        current_step=event.step_name,
        due_at=event.dossier_due_at,
    )


async def apply_supplement_requested(session: AsyncSession, *, event: DossierSupplementRequested) -> None:
    await _apply(
        session,
        event,
        status=S.WAITING,
        timeline=f"Yêu cầu bổ sung: {'; '.join(event.items)} (hạn {vn_datetime(event.deadline_at)}). "
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
        once={
            "resolved_at": event.resolved_at,
            "result_name": event.result.name if event.result else None,
            "result_electronic": event.result is not None and event.result.sha256 is not None,
            "timeliness": event.timeliness,
        },
        status_note=event.reason,
    )


async def apply_result_returned(session: AsyncSession, *, event: DossierResultReturned) -> None:
    await _apply(
        session,
        event,
        status=S.DONE,
        timeline="Đã trả kết quả điện tử" if event.electronic else "Đã trả kết quả",
        once={"returned_at": event.returned_at},
        current_step=None,
    )


async def apply_rescheduled(session: AsyncSession, *, event: DossierRescheduled) -> None:
    await _apply(
        session,
        event,
        timeline=(
            f"Thư xin lỗi, hẹn lại ngày trả kết quả: {vn_datetime(event.new_due_at)}. Lý do: {event.reason}"
        ),
        due_at=event.new_due_at,
    )


def declined_note(event: DossierRequestDeclined) -> str:
    """The citizen's timeline note for a request processing did not act on."""
    sent = vn_datetime(event.requested_at)
    state = DossierStatus(event.dossier_status)
    now = f"trạng thái hiện tại: {state.vietnamese_name}"
    if event.request == "supplement":
        return f"Hồ sơ bổ sung gửi lúc {sent} không được tiếp nhận vì hồ sơ không còn chờ bổ sung ({now})"
    if event.request == "withdrawal":
        if event.reason == "already_resolved":
            return (
                f"Yêu cầu rút hồ sơ gửi lúc {sent} không được chấp nhận vì hồ sơ đã được giải quyết; "
                f"kết quả giải quyết được giữ nguyên ({now})"
            )
        return f"Yêu cầu rút hồ sơ gửi lúc {sent} không được chấp nhận vì hồ sơ đã kết thúc ({now})"
    if event.reason == "already_rated":
        return f"Đánh giá gửi lúc {sent} không được ghi nhận vì hồ sơ đã được đánh giá trước đó"
    return f"Đánh giá gửi lúc {sent} không được ghi nhận vì hồ sơ chưa trả kết quả ({now})"


async def apply_request_declined(session: AsyncSession, *, event: DossierRequestDeclined) -> None:
    """Processing did not act on the citizen's request: the dossier shows processing's status, the
    timeline says why, and intake's record of that request is undone (a later request is kept)."""
    dossier = await _apply(
        session,
        event,
        status=DossierStatus(event.dossier_status),
        timeline=declined_note(event),
    )
    if dossier is None:
        return
    if event.request == "supplement":
        # The record answers the request of its revision; processing declined at ``version``, so a
        # record for a later request is another supplement, still pending.
        answered = dossier["supplement_provided_for"]
        if answered is not None and answered <= event.version:
            dossier["supplement_provided_at"] = dossier["supplement_provided_for"] = None
    elif event.request == "withdrawal":
        requested = dossier["withdrawal_requested_at"]
        if requested is not None and requested <= event.requested_at:
            dossier["withdrawal_requested_at"] = None
    elif event.reason == "not_returned":
        # An earlier rating that processing holds ("already_rated") stands as intake has it.
        rated = dossier["rated_at"]
        if rated is not None and rated <= event.requested_at:
            dossier["rating"] = dossier["rating_reason"] = dossier["rated_at"] = None
