"""What an HTTP provider's reply means for a delivery attempt, for the channels that POST to one
(the SMS gateway, webhook endpoints)."""

from __future__ import annotations

import httpx

from services.notify.models import NotificationStatus

# "Not now" answers: a timeout on the provider's side, too early, too many requests.
RETRY_LATER = frozenset({408, 425, 429})
EXCERPT_CHARS = 200
# The waits of one request that httpx bounds by its timeout each: a connection from the pool,
# connecting (with TLS), writing the request, reading the reply.
HTTP_WAITS = 4


def outcome_of_http_reply(code: int, *, accepted: NotificationStatus) -> NotificationStatus:
    """2xx: ``accepted``; 408, 425, 429 and 5xx: try again later; anything else (other 4xx, a
    redirect the provider should not have sent): never going to work as configured."""
    if 200 <= code < 300:
        return accepted
    if code in RETRY_LATER or code >= 500:
        return NotificationStatus.TEMPORARY_FAILURE
    return NotificationStatus.PERMANENT_FAILURE


def reply_detail(response: httpx.Response) -> str:
    """The status code and the start of the body, on one line, for the delivery history."""
    excerpt = " ".join(response.text.split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS] + "…"
    return f"{response.status_code} {excerpt}".rstrip()


def request_failure(exc: httpx.RequestError) -> str:
    # Some transport errors carry no message; the class name alone still tells them apart.
    message = str(exc)
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__
