"""The demo's mailbox: with ``MOTCUA_DEMO=true`` only, ``GET /demo/messages`` lists the emails and
SMS notify wrote in the last hour, newest first, so that someone trying motcua without an SMTP
server or an SMS gateway reads the one-time code the portal sent them. Outside the demo the route
answers 404 and reads nothing.

Plain text: nothing in a message is markup. The messages are read here and never logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import APIRouter, Response
from sqlmodel import col, select

from services.notify.models import Channel, Notification
from shared.errors import NotFound
from shared.events import utc_now
from shared.http import RuntimeDep, SessionDep
from shared.vietnam_time import in_vietnam

router = APIRouter(tags=["demo"])

WINDOW: Final = timedelta(hours=1)
LIMIT: Final = 200


@router.get("/demo/messages", response_class=Response)
async def demo_messages(runtime: RuntimeDep, session: SessionDep) -> Response:
    """The last hour's emails and SMS, as the demo's stand-in for a mailbox and a phone."""
    if not runtime.settings.common.demo:
        raise NotFound("no such page")
    rows = (
        await session.exec(
            select(Notification)
            .where(
                col(Notification.channel).in_([Channel.EMAIL.value, Channel.SMS.value]),
                col(Notification.created_at) >= utc_now() - WINDOW,
            )
            .order_by(col(Notification.created_at).desc())
            .limit(LIMIT)
        )
    ).all()
    lines = [
        "motcua demo: the emails and SMS of the last hour (newest first).",
        "Only with MOTCUA_DEMO=true; a real deployment sends them through SMTP and an SMS gateway.",
        "",
    ]
    for row in rows:
        at = in_vietnam(row.created_at).strftime("%d/%m/%Y %H:%M:%S")
        lines += [f"[{at}] {row.channel.upper()} to {row.recipient}", row.subject, row.body, ""]
    if not rows:
        lines.append("No message yet.")
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response("\n".join(lines) + "\n", media_type="text/plain; charset=utf-8", headers=headers)
