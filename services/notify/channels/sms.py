"""The SMS channel's adapter: hands one message to an HTTP SMS gateway and says how it went, and
holds non-urgent messages through the night (quiet hours, Vietnam time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo

import httpx

from services.notify.channels.delivery import AttemptResult, Claimed
from services.notify.channels.http_reply import (
    HTTP_WAITS,
    outcome_of_http_reply,
    reply_detail,
    request_failure,
)
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import SmsSettings
from shared.working_time import VN_TZ


def quiet_hours_end(now: datetime, *, start: time, end: time, zone: tzinfo = VN_TZ) -> datetime | None:
    """When the quiet hours ``now`` falls in end, in UTC; None outside them.

    ``start`` and ``end`` are wall-clock times in ``zone``; the hours run from ``start`` included to
    ``end`` excluded, across midnight when ``start`` is after ``end``. Equal times mean no quiet hours.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    # Wall-clock times: an offset given with them in the settings is not theirs to choose.
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    if start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= clock < end:
            return None
        end_day = local.date()
    elif clock >= start:
        end_day = local.date() + timedelta(days=1)
    elif clock < end:
        end_day = local.date()
    else:
        return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def gateway_request(claimed: Claimed, settings: SmsSettings) -> dict[str, str]:
    return {
        # The templates end in a newline, which on a phone is only a wasted character.
        "to": claimed.recipient,
        "text": claimed.body.strip(),
        "sender": settings.sender,
        # The same on every attempt, so that a gateway that deduplicates can tell a retry.
        "reference": claimed.notification_id,
    }


def message_id(response: httpx.Response) -> str | None:
    """The gateway's id for the message: ``id`` in its JSON reply, or ``message_id`` for gateways
    that name it so; None when the reply carries neither."""
    try:
        reply = response.json()
    except ValueError:
        return None
    if not isinstance(reply, dict):
        return None
    for key in ("id", "message_id"):
        value = reply.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


async def send_sms(claimed: Claimed, settings: SmsSettings) -> AttemptResult:
    """One POST to the gateway; never raises for what the gateway or the network did.

    A 2xx reply means the gateway took the message (``sent``); its delivery report, quoting the
    message id it answered with, later says whether the phone got it.
    """
    if settings.gateway_url is None:
        return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, "no SMS gateway_url configured")
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.post(
                str(settings.gateway_url), json=gateway_request(claimed, settings), headers=headers
            )
    except httpx.RequestError as exc:
        # Refused connections, timeouts, a gateway that hung up: our side of the wire, retried.
        return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, request_failure(exc))
    outcome = outcome_of_http_reply(response.status_code, accepted=NotificationStatus.SENT)
    detail = reply_detail(response)
    if outcome is not NotificationStatus.SENT:
        return AttemptResult(outcome, detail)
    reference = message_id(response)
    if reference is None:
        # Taken all the same: sending again would put the same text on the phone twice.
        detail = f"{detail} (no message id in the reply: no delivery report can match)"
    return AttemptResult(NotificationStatus.SENT, detail, reference=reference)


class SmsSender:
    """The SMS channel for the couriers; ``settings`` gives the current gateway settings."""

    channel = Channel.SMS

    def __init__(self, settings: Callable[[], SmsSettings]) -> None:
        self.settings = settings

    def ready(self) -> bool:
        settings = self.settings()
        return settings.enabled and settings.gateway_url is not None

    def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
        if claimed.urgent:
            return None
        settings = self.settings()
        return quiet_hours_end(now, start=settings.quiet_start, end=settings.quiet_end)

    def longest_send(self) -> float:
        return self.settings().timeout_seconds * HTTP_WAITS

    async def send(self, claimed: Claimed) -> AttemptResult:
        return await send_sms(claimed, self.settings())
