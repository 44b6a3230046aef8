"""HTTP routes: each reader's own notifications (staff by their token, citizens by their citizen
session) with their delivery history, the staff inbox (marked as read, and its live feed as
Server-Sent Events), and the SLA alerts staff see (listed, and live) and acknowledge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.notify.inbox import store as inbox
from services.notify.inbox.live import (
    ALERTS,
    INBOX,
    Accepts,
    InboxFeed,
    Subscription,
    TooManyStreams,
    sse_event,
    sse_stream,
)
from services.notify.messages import notifications
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
from services.notify.settings import InboxStreamSettings
from services.notify.staff import alerts, preferences
from services.notify.staff.directory import find_active
from services.notify.web.auth import ReaderDep, ViewerDep
from shared.auth import InvalidToken, token_expires_at
from shared.errors import NotFound
from shared.events import utc_now
from shared.http import Limit, Offset, RuntimeDep, SessionDep, unauthorized
from shared.settings import AuthSettings
from shared.staff import Staff

router = APIRouter(prefix="/api/v1", tags=["notifications"])
alerts_router = APIRouter(prefix="/api/v1", tags=["alerts"])
inbox_router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])
preferences_router = APIRouter(prefix="/api/v1/preferences", tags=["preferences"])

# A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


@router.get("/notifications", response_model=list[NotificationPublic])
async def list_notifications(
    session: SessionDep, reader: ReaderDep, limit: Limit = 50, offset: Offset = 0
) -> list[Notification]:
    """The caller's own notifications, newest first: a member of staff's by their token, a citizen's
    (inbox, SMS and email) by their citizen session. Webhook deliveries are never listed."""
    found = await notifications.list_for_reader(session=session, reader=reader, limit=limit, offset=offset)
    return list(found)


@router.get("/notifications/{notification_id}", response_model=NotificationWithAttempts)
async def get_notification(
    session: SessionDep, reader: ReaderDep, notification_id: str
) -> NotificationWithAttempts:
    """One of the caller's notifications with its delivery history; someone else's is not found."""
    notification = await notifications.get_for_reader(
        session=session, reader=reader, notification_id=notification_id
    )
    if notification is None:
        raise NotFound(f"notification {notification_id} not found")
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
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[Alert]:
    """SLA alerts in the caller's scope (unit, agency, or all for an admin), newest first."""
    found = await alerts.list_alerts(
        session=session, viewer=viewer, status=alert_status, limit=limit, offset=offset
    )
    return list(found)


@alerts_router.post("/alerts/{alert_id}/ack", response_model=AlertPublic)
async def acknowledge_alert(request: Request, runtime: RuntimeDep, viewer: ViewerDep, alert_id: str) -> Alert:
    """Acknowledge an open alert: managers and leaders in scope, and admins."""
    feed: InboxFeed = request.app.state.inbox_feed
    async with runtime.db.session() as session:
        alert = await alerts.acknowledge(session=session, viewer=viewer, alert_id=alert_id, now=utc_now())
        if alert is not None:
            # The boards of those in its scope hear of it once it is committed.
            message = AlertPublic.model_validate(alert).model_dump(mode="json")
            feed.broadcast_after_commit(session, [message])
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


@inbox_router.get("", response_model=InboxPage)
async def read_inbox(
    session: SessionDep,
    viewer: ViewerDep,
    limit: Limit = 50,
    offset: Offset = 0,
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
    A reconnecting client reads ``GET /api/v1/inbox`` for what it missed.

    At most ``MOTCUA_NOTIFY_INBOX_STREAM_MAX_PER_USER`` streams per user are open at once (429 with
    ``Retry-After`` beyond). A stream ends with ``event: expired`` when the token that opened it
    expires, and with ``event: deactivated`` once the user is no longer active."""
    subscription, expires_at = _open_stream(request, viewer, topic=INBOX)

    async def first() -> str:
        async with runtime.db.reading() as session:
            unread = await inbox.unread_count(session=session, recipient=viewer.username)
        return sse_event("unread", {"unread": unread})

    async def still_active() -> bool:
        async with runtime.db.reading() as session:
            return await find_active(session=session, username=viewer.username) is not None

    return _streaming(
        request, subscription, first, expires_at=expires_at, still_active=still_active, name="notification"
    )


@alerts_router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_alerts(request: Request, runtime: RuntimeDep, viewer: ViewerDep) -> StreamingResponse:
    """The SLA alerts in the caller's scope as Server-Sent Events, as ``GET /api/v1/alerts`` lists
    them: first ``event: ready``, then an ``event: alert`` (JSON) for each alert stored (near due,
    overdue, stalled, escalated), acknowledged or resolved from then on, whoever it is addressed
    to. A reconnecting client reads ``GET /api/v1/alerts`` for what it missed.

    Bounded as the inbox's stream is (``MOTCUA_NOTIFY_INBOX_STREAM_*``, counted apart): 429 with
    ``Retry-After`` beyond the streams a user may have open, ``event: expired`` when the token
    expires, and ``event: deactivated`` once the user is no longer active or their scope changed."""

    def in_scope(alert: dict[str, Any]) -> bool:
        return viewer.in_scope(agency_code=alert.get("agency_code"), unit_code=alert.get("unit_code"))

    subscription, expires_at = _open_stream(request, viewer, topic=ALERTS, accepts=in_scope)

    async def first() -> str:
        return sse_event("ready", {"role": viewer.role})

    async def still_active() -> bool:
        async with runtime.db.reading() as session:
            person = await find_active(session=session, username=viewer.username)
        # A member of staff moved to another unit or role opens a stream with their new scope.
        return person is not None and (person.role, person.agency_code, person.unit_code) == (
            viewer.role,
            viewer.agency_code,
            viewer.unit_code,
        )

    return _streaming(
        request, subscription, first, expires_at=expires_at, still_active=still_active, name="alert"
    )


def _open_stream(
    request: Request, viewer: Staff, *, topic: str, accepts: Accepts | None = None
) -> tuple[Subscription, datetime]:
    """A place on the live feed's ``topic`` for the caller, and when the token that asks expires;
    429 when the caller has as many streams of the topic open as allowed."""
    feed: InboxFeed = request.app.state.inbox_feed
    limits: InboxStreamSettings = request.app.state.inbox_stream
    auth: AuthSettings = request.app.state.auth
    # The viewer dependency has checked the token already.
    _, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        expires_at = token_expires_at(token.strip(), secret=auth.secret)
    except InvalidToken as exc:
        # It expired in the moment since the check.
        raise unauthorized(str(exc)) from exc
    try:
        subscription = feed.open(viewer.username, limit=limits.max_per_user, topic=topic, accepts=accepts)
    except TooManyStreams as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{viewer.username} already has {limits.max_per_user} {topic} streams open; close one first",
            headers={"Retry-After": str(limits.retry_after_seconds)},
        ) from exc
    return subscription, expires_at


def _streaming(
    request: Request,
    subscription: Subscription,
    first: Callable[[], Awaitable[str]],
    *,
    expires_at: datetime,
    still_active: Callable[[], Awaitable[bool]],
    name: str,
) -> StreamingResponse:
    """``first`` event, then the subscription's messages as ``event: <name>`` until the stream ends."""
    limits: InboxStreamSettings = request.app.state.inbox_stream

    async def events() -> AsyncIterator[str]:
        # Subscribed (before this) ahead of the first event, so that nothing stored in between is
        # missed.
        try:
            yield await first()
            async for chunk in sse_stream(
                subscription.queue,
                keepalive_seconds=KEEPALIVE_SECONDS,
                expires_at=expires_at,
                still_active=still_active,
                check_seconds=limits.active_check_seconds,
                name=name,
            ):
                yield chunk
        finally:
            subscription.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Frees the place also when the client left before the stream began.
        background=BackgroundTask(subscription.close),
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
        raise NotFound(f"notification {notification_id} not found")
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
    async with runtime.db.session() as session:
        return await preferences.put(session=session, viewer=viewer, wanted=wanted, now=utc_now())
