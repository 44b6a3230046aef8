"""The webhook channel's adapter: POSTs a dossier event, signed, to a portal's endpoint.

Each request carries ``X-Motcua-Timestamp`` (unix seconds) and ``X-Motcua-Signature:
sha256=<hex>``, the HMAC-SHA256 with the endpoint's secret of the timestamp, a dot and the raw
body. A receiver checks both with ``verify`` (or the same few lines in its own language) and
treats ``X-Motcua-Delivery``, the same on every retry, as its idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

import httpx

from services.notify.channels.delivery import AttemptResult, Claimed
from services.notify.channels.http_reply import (
    HTTP_WAITS,
    outcome_of_http_reply,
    reply_detail,
    request_failure,
)
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import WebhookSettings
from shared.events import utc_now

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Motcua-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return SIGNATURE_PREFIX + _digest(secret, str(timestamp), body)


def verify(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``signature`` is ours for exactly this body and timestamp, and the timestamp is
    within ``tolerance_seconds`` of ``now``, so that a captured request cannot be replayed later.
    ``timestamp`` is the header's text as received: it is signed as it stands."""
    text = str(timestamp)
    if not text.isascii() or not text.isdigit():
        return False
    if abs(now.timestamp() - int(text)) > tolerance_seconds:
        return False
    expected = SIGNATURE_PREFIX + _digest(secret, text, body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def webhook_headers(claimed: Claimed, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Motcua-Event": claimed.event_type,
        "X-Motcua-Delivery": claimed.notification_id,
        "X-Motcua-Timestamp": str(timestamp),
        "X-Motcua-Signature": sign(secret, timestamp, body),
    }


async def send_webhook(claimed: Claimed, settings: WebhookSettings, *, now: datetime) -> AttemptResult:
    """One signed POST of the event to the endpoint named by the notification's recipient; never
    raises for what the endpoint or the network did. A 2xx reply is the portal's confirmation
    that it has the event: ``delivered``."""
    endpoint = settings.endpoint(claimed.recipient)
    if endpoint is None:
        return AttemptResult(
            NotificationStatus.PERMANENT_FAILURE,
            f"webhook endpoint {claimed.recipient!r} is no longer configured",
        )
    body = claimed.body.encode()
    # Signed at each attempt, so that a retry is not refused as stale.
    timestamp = int(now.timestamp())
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.post(
                str(endpoint.url),
                content=body,
                headers=webhook_headers(claimed, endpoint.secret, timestamp, body),
            )
    except httpx.RequestError as exc:
        return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, request_failure(exc))
    outcome = outcome_of_http_reply(response.status_code, accepted=NotificationStatus.DELIVERED)
    return AttemptResult(outcome, reply_detail(response))


class WebhookSender:
    """The webhook channel for the couriers; ``settings`` gives the current endpoints."""

    channel = Channel.WEBHOOK

    def __init__(self, settings: Callable[[], WebhookSettings]) -> None:
        self.settings = settings

    def ready(self) -> bool:
        return bool(self.settings().endpoints)

    def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
        return None

    def longest_send(self) -> float:
        return self.settings().timeout_seconds * HTTP_WAITS

    async def send(self, claimed: Claimed) -> AttemptResult:
        return await send_webhook(claimed, self.settings(), now=utc_now())
