"""HTTP routes: the in-app inbox, read by citizens (by CCCD) and staff (by user id)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from services.notify import notifications
from services.notify.models import Notification, NotificationPublic
from shared.http import SessionDep

router = APIRouter(prefix="/api/v1", tags=["notifications"])


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


@router.get("/notifications/{notification_id}", response_model=NotificationPublic)
async def get_notification(session: SessionDep, notification_id: str) -> Notification:
    notification = await notifications.get(session=session, notification_id=notification_id)
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"notification {notification_id} not found")
    return notification
