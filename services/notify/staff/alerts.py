"""SLA alerts as managers see them: stored from the bus, listed within the caller's scope, and
acknowledged once.

Scope: an officer and a manager see their unit's alerts, a leader their agency's, an admin all.
Managers, leaders and admins acknowledge alerts in their scope; officers only read them.

Whatever order an alert and the end of its step (or of its dossier) arrive in, the alert ends the
same: resolved at the end's time when the end came at or after the alert's revision of the dossier,
open (or acknowledged) otherwise. Ends are kept (``DossierClosure``) so that an alert arriving late
is stored resolved, and an alert is always resolved by the earliest end after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, String, bindparam, func, insert, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Alert, AlertStatus, DossierClosure, new_notification_id
from shared.db import advisory_lock_key, insert_ignoring_duplicates
from shared.driver_statements import DriverStatement, PerCount, numbered, numbered_values
from shared.errors import Conflict, Forbidden
from shared.events import AlertEscalated, Event, SlaAlert
from shared.staff import Staff

ACKNOWLEDGING_ROLES = frozenset({"manager", "leader", "admin"})

# Told of the alerts a transaction resolved (for the live feed, once it commits).
Resolved = Callable[[Sequence[Alert]], None]


class NotAllowed(Forbidden):
    """The caller may not do this to this alert; the message says why."""


class AlreadyAcknowledged(Conflict):
    pass


def kind_of(event: SlaAlert) -> str:
    """near_due, overdue or stalled: an escalation keeps the kind it escalates."""
    if isinstance(event, AlertEscalated):
        return event.kind
    return event.type.removeprefix("alert.")


def scope_filter(viewer: Staff) -> ColumnElement[bool]:
    """The alerts within ``viewer``'s scope, as a WHERE clause."""
    return viewer.scope_clause(agency_column=col(Alert.agency_code), unit_column=col(Alert.unit_code))


def check_may_acknowledge(viewer: Staff, alert: Alert) -> None:
    """Raises ``NotAllowed`` or ``AlreadyAcknowledged`` when the viewer may not acknowledge it now."""
    if viewer.role not in ACKNOWLEDGING_ROLES:
        raise NotAllowed(f"{viewer.username} ({viewer.role}) may not acknowledge alerts")
    if not viewer.in_scope(agency_code=alert.agency_code, unit_code=alert.unit_code):
        raise NotAllowed(f"alert {alert.id} is outside {viewer.username}'s scope")
    if alert.status != AlertStatus.OPEN.value:
        raise AlreadyAcknowledged(f"alert {alert.id} is already {alert.status}")


async def _one_dossier_at_a_time(session: AsyncSession, dossier_code: str) -> None:
    """Alerts and ends of one dossier take turns, so that an alert stored while its step ends still
    meets that end (SQLite's writers take turns already)."""
    if session.get_bind().dialect.name == "postgresql":
        await _TURN.run(session, {"key": advisory_lock_key("motcua.notify.alerts", dossier_code)})


async def _first_end_after(session: AsyncSession, *, event: SlaAlert) -> datetime | None:
    """When the alert's step or dossier first ended at or after the alert's revision, if it has."""
    scope: ColumnElement[bool] = col(DossierClosure.step_index).is_(None)
    if event.level == "step":
        scope = or_(scope, col(DossierClosure.step_index) == event.step_index)
    statement = (
        select(DossierClosure.closed_at)
        .where(DossierClosure.dossier_code == event.dossier_code, DossierClosure.revision >= event.version)
        .where(scope)
        .order_by(col(DossierClosure.closed_at))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def record_alert(*, session: AsyncSession, event: SlaAlert) -> Alert | None:
    """Store the alert once, whatever the redeliveries: resolved already when its step or its
    dossier has ended since it was raised. The stored alert, or None for a redelivery."""
    await _one_dossier_at_a_time(session, event.dossier_code)
    ended_at = await _first_end_after(session, event=event)
    statement = (
        insert_ignoring_duplicates(session, Alert)
        .values(
            id=new_notification_id(),
            event_id=str(event.event_id),
            event_type=event.type,
            kind=kind_of(event),
            dossier_code=event.dossier_code,
            procedure_code=event.procedure_code,
            procedure_name=event.procedure_name,
            level=event.level,
            step_index=event.step_index,
            step_name=event.step_name,
            agency_code=event.agency_code,
            unit_code=event.unit_code,
            owner=event.owner,
            rung=event.rung,
            due_at=event.due_at,
            raised_at=event.raised_at,
            status=(AlertStatus.OPEN if ended_at is None else AlertStatus.RESOLVED).value,
            resolved_at=ended_at,
            revision=event.version,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(Alert)
    )
    stored: Alert | None = (await session.execute(statement)).scalars().first()
    return stored


@dataclass(frozen=True)
class End:
    """A step of the dossier (``step_index``) or the whole dossier ended at ``revision``."""

    dossier_code: str
    step_index: int | None
    revision: int
    ended_at: datetime


_ENDS = "notify.alerts.ends"
_TURN = DriverStatement(select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger))))
_CLOSE = DriverStatement(insert(DossierClosure))
# Which of the dossiers named have an alert, by how many are named.
_ALERTED = PerCount(
    lambda count: (
        select(col(Alert.dossier_code))
        .where(col(Alert.dossier_code).in_(numbered("code", count, String())))
        .distinct()
    )
)


@asynccontextmanager
async def recording_ends(
    session: AsyncSession, _events: Sequence[Event], *, resolved: Resolved | None = None
) -> AsyncIterator[None]:
    """The scope of a transaction's events (see ``ServiceRuntime.handle``): the ends ``record_end``
    notes are recorded together once the last event is handled, dossier by dossier in code order,
    as every batch takes its dossiers; ``resolved`` is then told of the alerts they resolved."""
    ends: list[End] = []
    session.info[_ENDS] = ends
    try:
        yield
        changed = await _record_ends(session, ends)
        if resolved is not None and changed:
            resolved(changed)
    finally:
        del session.info[_ENDS]


async def record_end(
    *,
    session: AsyncSession,
    dossier_code: str,
    step_index: int | None = None,
    revision: int,
    ended_at: datetime,
) -> None:
    """A step of the dossier (``step_index``) or the whole dossier ended at ``revision``: keep it,
    and resolve the alerts about it raised up to that revision, unless an earlier end resolved them
    already. Within ``recording_ends`` that happens as the scope ends, at once otherwise."""
    end = End(dossier_code=dossier_code, step_index=step_index, revision=revision, ended_at=ended_at)
    pending: list[End] | None = session.info.get(_ENDS)
    if pending is None:
        await _record_ends(session, [end])
    else:
        pending.append(end)


async def _record_ends(session: AsyncSession, ends: Sequence[End]) -> list[Alert]:
    """Keep the ends, and resolve the alerts they end; the alerts resolved (or resolved earlier)."""
    if not ends:
        return []
    codes = sorted({end.dossier_code for end in ends})
    for code in codes:
        await _one_dossier_at_a_time(session, code)
    await _CLOSE.run_many(
        session,
        [
            {
                "dossier_code": end.dossier_code,
                "step_index": end.step_index,
                "revision": end.revision,
                "closed_at": end.ended_at,
            }
            for end in ends
        ],
    )
    # Most dossiers never had an alert: only those that have one are worth an update per end.
    alerted = {code for (code,) in await _ALERTED[len(codes)].rows(session, numbered_values("code", codes))}
    changed: dict[str, Alert] = {}
    for end in ends:
        if end.dossier_code not in alerted:
            continue
        statement = update(Alert).where(
            col(Alert.dossier_code) == end.dossier_code,
            col(Alert.revision) <= end.revision,
            or_(
                col(Alert.status) != AlertStatus.RESOLVED.value,
                col(Alert.resolved_at).is_(None),
                col(Alert.resolved_at) > end.ended_at,
            ),
        )
        if end.step_index is not None:
            statement = statement.where(col(Alert.level) == "step", col(Alert.step_index) == end.step_index)
        values = statement.values(status=AlertStatus.RESOLVED.value, resolved_at=end.ended_at)
        for alert in (await session.execute(values.returning(Alert))).scalars():
            changed[alert.id] = alert
    return list(changed.values())


async def list_alerts(
    *, session: AsyncSession, viewer: Staff, status: AlertStatus | None, limit: int, offset: int
) -> Sequence[Alert]:
    """Alerts in the viewer's scope, newest first."""
    statement = select(Alert).where(scope_filter(viewer))
    if status is not None:
        statement = statement.where(Alert.status == status.value)
    statement = (
        statement.order_by(col(Alert.raised_at).desc(), col(Alert.id).desc()).limit(limit).offset(offset)
    )
    return (await session.exec(statement)).all()


async def acknowledge(*, session: AsyncSession, viewer: Staff, alert_id: str, now: datetime) -> Alert | None:
    """Acknowledge an open alert; None when there is no such alert.

    The update is conditional on the alert still being open, so two managers acknowledging at
    once get one success and one ``AlreadyAcknowledged``.
    """
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return None
    check_may_acknowledge(viewer, alert)
    changed = await session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.OPEN.value)
        .values(status=AlertStatus.ACKNOWLEDGED.value, acknowledged_by=viewer.username, acknowledged_at=now)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        raise AlreadyAcknowledged(f"alert {alert_id} is already acknowledged")
    await session.refresh(alert)
    return alert
