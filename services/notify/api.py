"""HTTP routes: the in-app inbox, read by citizens (by CCCD) and staff (by user id; their own
inbox, marked as read, and its live feed as Server-Sent Events), each notification's delivery
history, and the SLA alerts staff see and acknowledge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from services.notify import alerts, inbox, notifications, preferences
from services.notify.auth import ViewerDep
from services.notify.live import InboxFeed, sse_event, sse_stream
from services.notify.models import (
    Alert,
    AlertPublic,
    AlertStatus,
    InboxPage,
    Notification,
    NotificationPublic,
    NotificationWithAttempts,
    StaffPreferencesBase,
    StaffPreferencesPublic,
)
from shared.events import utc_now
from shared.http import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["notifications"])
alerts_router = APIRouter(prefix="/api/v1", tags=["alerts"])
inbox_router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])
preferences_router = APIRouter(prefix="/api/v1/preferences", tags=["preferences"])

# A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


@router.get("/notifications", response_model=list[NotificationPublic])
async def list_notifications(
    session: SessionDep,
    recipient: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"\S",
            description="A citizen's id_number (CCCD) or a staff user id",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Notification]:
    """A recipient's notifications, newest first."""
    found = await notifications.list_for_recipient(
        session=session, recipient=recipient.strip(), limit=limit, offset=offset
    )
    return list(found)


@router.get("/notifications/{notification_id}", response_model=NotificationWithAttempts)
async def get_notification(session: SessionDep, notification_id: str) -> NotificationWithAttempts:
    """One notification with its delivery history."""
    notification = await notifications.get(session=session, notification_id=notification_id)
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"notification {notification_id} not found")
    history = await notifications.delivery_history(session=session, notification_id=notification_id)
    return NotificationWithAttempts.model_validate(
        {
            **notification.model_dump(),
            "delivery_attempts": [attempt.model_dump() for attempt in history],
        }
    )


@alerts_router.get("/alerts", response_model=list[AlertPublic])
async def list_alerts(
    session: SessionDep,
    viewer: ViewerDep,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Alert]:
    """SLA alerts in the caller's scope (unit, agency, or all for an admin), newest first."""
    found = await alerts.list_alerts(
        session=session, viewer=viewer, status=alert_status, limit=limit, offset=offset
    )
    return list(found)


@alerts_router.post("/alerts/{alert_id}/ack", response_model=AlertPublic)
async def acknowledge_alert(runtime: RuntimeDep, viewer: ViewerDep, alert_id: str) -> Alert:
    """Acknowledge an open alert: managers and leaders in scope, and admins."""
    try:
        async with runtime.db.session() as session:
            alert = await alerts.acknowledge(session=session, viewer=viewer, alert_id=alert_id, now=utc_now())
    except alerts.NotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except alerts.AlreadyAcknowledged as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    return alert


@inbox_router.get("", response_model=InboxPage)
async def read_inbox(
    session: SessionDep,
    viewer: ViewerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InboxPage:
    """The caller's inbox notifications, newest first, with how many are unread."""
    found = await inbox.list_inbox(session=session, recipient=viewer.username, limit=limit, offset=offset)
    unread = await inbox.unread_count(session=session, recipient=viewer.username)
    return InboxPage(
        items=[NotificationPublic.model_validate(row.model_dump()) for row in found], unread=unread
    )


@inbox_router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_inbox(request: Request, runtime: RuntimeDep, viewer: ViewerDep) -> StreamingResponse:
    """The caller's new inbox notifications as Server-Sent Events: first ``event: unread`` with the
    unread count, then an ``event: notification`` (JSON) for each notification stored from then on.
    A reconnecting client reads ``GET /api/v1/inbox`` for what it missed."""
    feed: InboxFeed = request.app.state.inbox_feed

    async def events() -> AsyncIterator[str]:
        # Subscribed before counting, so that nothing stored in between is missed.
        async with feed.subscribe(viewer.username) as queue:
            async with runtime.db.reading() as session:
                unread = await inbox.unread_count(session=session, recipient=viewer.username)
            yield sse_event("unread", {"unread": unread})
            async for chunk in sse_stream(queue, keepalive_seconds=KEEPALIVE_SECONDS):
                yield chunk

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@inbox_router.post("/{notification_id}/read", response_model=NotificationPublic)
async def mark_read(runtime: RuntimeDep, viewer: ViewerDep, notification_id: str) -> NotificationPublic:
    """Mark one of the caller's inbox notifications as read; 404 for anyone else's."""
    async with runtime.db.session() as session:
        row = await inbox.mark_read(
            session=session, recipient=viewer.username, notification_id=notification_id, now=utc_now()
        )
        found = None if row is None else NotificationPublic.model_validate(row.model_dump())
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"notification {notification_id} not found")
    return found


@preferences_router.get("", response_model=StaffPreferencesPublic)
async def read_preferences(session: SessionDep, viewer: ViewerDep) -> StaffPreferencesPublic:
    """How the caller hears from notify: language, alert email, and the daily digest."""
    return await preferences.get(session=session, username=viewer.username)


@preferences_router.put("", response_model=StaffPreferencesPublic)
async def write_preferences(
    runtime: RuntimeDep, viewer: ViewerDep, wanted: StaffPreferencesBase
) -> StaffPreferencesPublic:
    """Replace the caller's preferences. The daily digest (one message a day listing the alerts in
    the caller's scope, instead of one per alert) is for managers and leaders."""
    try:
        async with runtime.db.session() as session:
            return await preferences.put(session=session, viewer=viewer, wanted=wanted, now=utc_now())
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except preferences.NotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
