"""What the portal keeps in cookies: the citizen's session, and the right to reread one receipt.

- ``motcua_citizen``: the citizen session token the one-time code opened (the same token the API
  takes as a bearer), HttpOnly and SameSite=Strict, for as long as the token lives.
- ``motcua_receipt``: after a submission from the portal, the code of that one dossier, signed and
  short-lived, so that the submitter can reread and print its receipt without a session. It opens
  that receipt only: knowing a CCCD never opens anyone's other dossiers.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shared.auth import InvalidToken, verify_citizen_token
from shared.pages import set_cookie
from shared.settings import AuthSettings

CITIZEN_COOKIE: Final = "motcua_citizen"
RECEIPT_COOKIE: Final = "motcua_receipt"
RECEIPT_SECONDS: Final = 30 * 60


def _secret(request: Request) -> str:
    auth: AuthSettings = request.app.state.auth
    return auth.secret


def citizen_token(request: Request) -> str:
    """The session cookie's value, or ``""``; it also binds the forms' CSRF tokens."""
    return request.cookies.get(CITIZEN_COOKIE, "")


def citizen_id_number(request: Request) -> str | None:
    """The CCCD the citizen's session is bound to, or ``None`` without a valid session."""
    token = citizen_token(request)
    if not token:
        return None
    try:
        return verify_citizen_token(token, secret=_secret(request))
    except InvalidToken:
        return None


def to_lookup(code: str) -> RedirectResponse:
    """Where a page that needs the right to read dossier ``code`` sends a caller without it."""
    return RedirectResponse(f"/lookup?code={quote(code, safe='')}", status_code=303)


def open_session(response: Response, request: Request, token: str, *, minutes: float) -> None:
    set_cookie(response, request, CITIZEN_COOKIE, token, max_age=int(minutes * 60))


def close_session(response: Response, request: Request) -> None:
    response.delete_cookie(CITIZEN_COOKIE, path="/", httponly=True, samesite="strict")


def _receipt_signature(secret: str, code: str, expires: int) -> str:
    key = hmac.new(secret.encode(), b"motcua portal receipt", hashlib.sha256).digest()
    return hmac.new(key, f"{code}|{expires}".encode(), hashlib.sha256).hexdigest()


def remember_receipt(response: Response, request: Request, code: str) -> None:
    expires = int(time.time()) + RECEIPT_SECONDS
    value = f"{code}|{expires}|{_receipt_signature(_secret(request), code, expires)}"
    set_cookie(response, request, RECEIPT_COOKIE, value, max_age=RECEIPT_SECONDS)


def receipt_allowed(request: Request, code: str) -> bool:
    """Whether the request's receipt cookie names dossier ``code`` and is still valid."""
    parts = request.cookies.get(RECEIPT_COOKIE, "").split("|")
    if len(parts) != 3 or parts[0] != code or not parts[1].isdigit():
        return False
    expires = int(parts[1])
    if expires < time.time():
        return False
    return hmac.compare_digest(_receipt_signature(_secret(request), code, expires), parts[2])
