"""CSRF protection for the pages' forms: a signed double-submit cookie.

Every page rendered with ``shared.pages.render`` carries a random value in the cookie
``motcua_csrf`` (HttpOnly, SameSite=Strict) and puts into its forms the hidden field ``csrf_token``:
an HMAC of that value (and of an optional *binding*) under a key drawn from the services' secret.
A form handler calls ``require_csrf(request, token, binding=…)`` before it changes anything; a
missing or wrong token raises ``CsrfRefused``, which ``mount_pages`` answers with a 403 page.

The binding ties tokens to a session: pass the same string when rendering and when checking (the
citizen portal passes its session cookie's value; a staff session its id). A token then stops
working when the session changes, and a cookie planted by a sibling site cannot be paired with a
token without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from starlette.requests import Request

CSRF_COOKIE: Final = "motcua_csrf"
CSRF_FIELD: Final = "csrf_token"
_KEY_LABEL: Final = b"motcua pages csrf"


class CsrfRefused(Exception):
    """A form came without the token of the page that holds it: answered 403, nothing changes."""


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret: str, cookie_value: str, binding: str = "") -> str:
    """The token a form carries for ``cookie_value`` and ``binding``."""
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    message = f"{cookie_value}\x00{binding}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _secret(request: Request) -> str:
    secret: str = request.app.state.auth.secret
    return secret


def cookie_value(request: Request) -> str | None:
    """The request's CSRF cookie, or the one this request's page is about to set."""
    planned = getattr(request.state, "csrf_cookie", None)
    if isinstance(planned, str):
        return planned
    value = request.cookies.get(CSRF_COOKIE)
    return value if value and 20 <= len(value) <= 100 else None


def token_for(request: Request, binding: str = "") -> str:
    """The token for the page being rendered; starts a cookie (set by ``render``) when there is none."""
    value = cookie_value(request)
    if value is None:
        value = new_cookie_value()
        request.state.csrf_cookie = value
    return csrf_token(_secret(request), value, binding)


def csrf_valid(request: Request, token: str | None, *, binding: str = "") -> bool:
    value = request.cookies.get(CSRF_COOKIE)
    if not value or not token:
        return False
    return hmac.compare_digest(csrf_token(_secret(request), value, binding), token)


def require_csrf(request: Request, token: str | None, *, binding: str = "") -> None:
    """Raise ``CsrfRefused`` unless ``token`` belongs to the request's cookie and ``binding``."""
    if not csrf_valid(request, token, binding=binding):
        raise CsrfRefused("the form has expired or did not come from this site; reload the page")
