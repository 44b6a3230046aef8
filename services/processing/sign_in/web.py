"""Staff on the pages: the session cookie, CSRF tokens, and the dependency every page route takes.

- The cookie is HttpOnly, SameSite=Strict, ``Path=/``, and Secure when the request came over https.
- A page request signed in by the cookie, or by a bearer token (scripts), gets its ``PageStaff``;
  without either it is redirected (303) to the sign-in page with a local ``next``; a user who must
  choose a password is sent to that page first.
- CSRF: every form carries the pages' ``csrf_token`` (``shared.pages.csrf``), bound to the session
  once signed in. A request signed in by a bearer token needs none: a browser never sends one by
  itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.processing.auth import actor_named
from services.processing.sign_in.authenticator import Authenticator, PasswordAuthenticator
from services.processing.sign_in.lockout import Lockout
from services.processing.sign_in.passwords import Passwords
from services.processing.sign_in.settings import SignInSettings
from services.processing.sign_in.store import SignedIn, signed_in
from shared.auth import InvalidToken, verify_token
from shared.events import utc_now
from shared.http import BearerCredentials, RuntimeDep
from shared.pages import Pages, reader_language, render, require_csrf, safe_next
from shared.settings import AuthSettings
from shared.staff import Staff

SESSION_COOKIE = "motcua_staff"
SIGN_IN_PATH = "/sign-in"
PASSWORD_PATH = "/password"


class SignInRequired(Exception):
    """No staff member is signed in: the page answers with the sign-in page, then ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PasswordChangeRequired(SignInRequired):
    """Signed in with a password an admin set: the user chooses their own first."""


def requested_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def sign_in_settings(request: Request) -> SignInSettings:
    settings: SignInSettings = request.app.state.sign_in
    return settings


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    settings = sign_in_settings(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.absolute_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )


# -- CSRF ---------------------------------------------------------------------------------------------
def csrf_binding(request: Request) -> str:
    """What this request's forms' tokens are bound to: the session, or nothing before sign-in."""
    staff: PageStaff | None = getattr(request.state, "page_staff", None)
    return "" if staff is None or staff.session is None else staff.session.id_hash


def check_csrf(request: Request, token: str | None) -> None:
    """``CsrfRefused`` (a 403 page) unless ``token`` is this browser's; a bearer token needs none."""
    staff: PageStaff | None = getattr(request.state, "page_staff", None)
    if staff is not None and staff.session is None:
        return
    require_csrf(request, token, binding=csrf_binding(request))


# -- who is on the page ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PageStaff:
    """The signed-in member of staff, and their session (``None``: signed in by a bearer token)."""

    staff: Staff
    session: SignedIn | None


async def _identify(
    request: Request, runtime: RuntimeDep, credentials: BearerCredentials
) -> PageStaff | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with runtime.db.session() as session:
            found = await signed_in(session, token=cookie, settings=sign_in_settings(request), now=utc_now())
        if found is not None:
            return PageStaff(staff=found.staff, session=found)
    if credentials is not None and credentials.scheme.lower() == "bearer":
        auth: AuthSettings = request.app.state.auth
        try:
            username = verify_token(credentials.credentials, secret=auth.secret)
        except InvalidToken:
            return None
        async with runtime.db.reading() as session:
            try:
                staff = await actor_named(session, username)
            except HTTPException:  # an unknown or inactive user is no one here
                return None
        return PageStaff(staff=staff, session=None)
    return None


async def optional_page_staff(
    request: Request, runtime: RuntimeDep, credentials: BearerCredentials
) -> PageStaff | None:
    """Who is signed in, if anyone (the sign-in page itself)."""
    found = await _identify(request, runtime, credentials)
    request.state.page_staff = found
    return found


async def page_staff(request: Request, runtime: RuntimeDep, credentials: BearerCredentials) -> PageStaff:
    """The signed-in member of staff; otherwise the sign-in page, then back here."""
    found = await optional_page_staff(request, runtime, credentials)
    if found is None:
        raise SignInRequired(requested_path(request) if request.method == "GET" else "/")
    if found.session is not None and found.session.must_change and request.url.path != PASSWORD_PATH:
        raise PasswordChangeRequired(requested_path(request) if request.method == "GET" else "/")
    return found


PageStaffDep = Annotated[PageStaff, Depends(page_staff)]
OptionalPageStaffDep = Annotated[PageStaff | None, Depends(optional_page_staff)]


async def _redirect(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    path = PASSWORD_PATH if isinstance(exc, PasswordChangeRequired) else SIGN_IN_PATH
    target = safe_next(exc.next_path)
    location = path if target == "/" else f"{path}?next={quote(target, safe='')}"
    return RedirectResponse(location, status_code=303)


def install_sign_in(
    app: FastAPI, settings: SignInSettings | None = None, *, authenticator: Authenticator | None = None
) -> None:
    """The sign-in settings, the authenticator (by password unless given) and the password hasher
    on ``app.state``, and the redirect to the sign-in page."""
    settings = settings or SignInSettings()
    passwords = Passwords()
    app.state.sign_in = settings
    app.state.passwords = passwords
    app.state.authenticator = authenticator or PasswordAuthenticator(
        lockout=Lockout(max_failures=settings.max_failures, minutes=settings.lockout_minutes),
        passwords=passwords,
    )
    app.add_exception_handler(SignInRequired, _redirect)


def render_page(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``shared.pages.render`` for a staff page: its forms' tokens bound to the session, and ``me``
    (the signed-in ``PageStaff`` or ``None``) in the template's context."""
    return render(
        request,
        name,
        status_code=status_code,
        csrf_binding=csrf_binding(request),
        me=getattr(request.state, "page_staff", None),
        **context,
    )


def say(request: Request, key: str, **values: object) -> str:
    """The message ``key`` in the reader's language, for text a route puts into a page."""
    pages: Pages = request.app.state.pages
    return pages.messages.text(reader_language(request), key, **values)
