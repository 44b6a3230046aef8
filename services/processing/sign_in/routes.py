"""The sign-in pages (sign in, sign out, choose a password) and the admin's password route.

The pages speak to people: a refusal says what to do, the same words whatever the reason, so that
no one learns which usernames exist or which of them are locked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from services.processing.auth import require_admin
from services.processing.sign_in.authenticator import Authenticator
from services.processing.sign_in.passwords import Passwords, WeakPassword
from services.processing.sign_in.store import end_session, end_sessions_of, open_session, set_password
from services.processing.sign_in.web import (
    PASSWORD_PATH,
    SESSION_COOKIE,
    SIGN_IN_PATH,
    OptionalPageStaffDep,
    PageStaffDep,
    check_csrf,
    clear_session_cookie,
    render_page,
    say,
    set_session_cookie,
    sign_in_settings,
)
from shared.errors import Forbidden, Invalid
from shared.events import utc_now
from shared.http import RuntimeDep
from shared.pages import reader_language, require_csrf, safe_next

pages = APIRouter(tags=["pages"])
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Text = Annotated[str, Form(max_length=1024)]
Next = Annotated[str, Form(max_length=2000)]
Token = Annotated[str | None, Form(max_length=200)]


def authenticator_of(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def passwords_of(request: Request) -> Passwords:
    found: Passwords = request.app.state.passwords
    return found


def _see(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=status.HTTP_303_SEE_OTHER)


@pages.get(SIGN_IN_PATH, response_class=HTMLResponse)
async def sign_in_page(request: Request, me: OptionalPageStaffDep, next: str = "/") -> Response:
    """The sign-in form; someone already signed in goes on to ``next``."""
    if me is not None and (me.session is None or not me.session.must_change):
        return _see(safe_next(next))
    return _sign_in_form(request, next=safe_next(next), values={}, errors={})


def _sign_in_form(
    request: Request, *, next: str, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response:
    # Its token is bound to no session: the form opens a new one.
    request.state.page_staff = None
    return render_page(
        request, "sign_in.html.j2", status_code=status_code, next=next, values=values, errors=errors
    )


@pages.post(SIGN_IN_PATH, response_class=HTMLResponse)
async def sign_in(
    request: Request,
    runtime: RuntimeDep,
    username: Text = "",
    password: Text = "",
    next: Next = "/",
    csrf_token: Token = None,
) -> Response:
    require_csrf(request, csrf_token)
    username = username.strip().lower()
    target = safe_next(next)
    settings = sign_in_settings(request)
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = "sign_in.username_missing"
    if not password:
        errors["password"] = "sign_in.password_missing"
    if errors:
        return _sign_in_form(
            request,
            status_code=422,
            next=target,
            values={"username": username},
            errors={name: say(request, key) for name, key in errors.items()},
        )
    now = utc_now()
    async with runtime.db.session() as session:
        outcome = await authenticator_of(request).authenticate(
            session, username=username, password=password, now=now
        )
        if outcome.ok:
            assert outcome.staff is not None
            # A new session at every sign-in: a cookie planted before it opens nothing.
            if (old := request.cookies.get(SESSION_COOKIE)) is not None:
                await end_session(session, token=old)
            token = await open_session(session, username=outcome.staff.username, settings=settings, now=now)
    if not outcome.ok:
        return _sign_in_form(
            request,
            status_code=401,
            next=target,
            values={"username": username},
            errors={
                "_form": say(
                    request,
                    "sign_in.refused",
                    failures=settings.max_failures,
                    minutes=f"{settings.lockout_minutes:g}",
                )
            },
        )
    location = f"{PASSWORD_PATH}?next={target}" if outcome.must_change else target
    response = _see(location)
    set_session_cookie(response, request, token)
    return response


@pages.post("/sign-out", response_class=HTMLResponse)
async def sign_out(
    request: Request, runtime: RuntimeDep, me: OptionalPageStaffDep, csrf_token: Token = None
) -> Response:
    """End this browser's session; the next page asks to sign in again."""
    check_csrf(request, csrf_token)
    if (token := request.cookies.get(SESSION_COOKIE)) is not None:
        async with runtime.db.session() as session:
            await end_session(session, token=token)
    response = _see(SIGN_IN_PATH)
    clear_session_cookie(response, request)
    return response


@pages.get(PASSWORD_PATH, response_class=HTMLResponse)
async def password_page(request: Request, me: PageStaffDep, next: str = "/") -> Response:
    """Choose a new password (required after an admin set one)."""
    return render_page(
        request,
        "password.html.j2",
        next=safe_next(next),
        errors={},
        min_length=sign_in_settings(request).min_password_length,
    )


@pages.post(PASSWORD_PATH, response_class=HTMLResponse)
async def change_password(
    request: Request,
    runtime: RuntimeDep,
    me: PageStaffDep,
    current: Text = "",
    new: Text = "",
    confirm: Text = "",
    next: Next = "/",
    csrf_token: Token = None,
) -> Response:
    check_csrf(request, csrf_token)
    if me.session is None:
        raise Forbidden("sign in with a password to change it")
    target = safe_next(next)
    username = me.staff.username
    settings = sign_in_settings(request)
    errors: dict[str, str] = {}
    async with runtime.db.session() as session:
        outcome = await authenticator_of(request).authenticate(
            session, username=username, password=current, now=utc_now()
        )
        if not outcome.ok:
            errors["current"] = "password.current_wrong"
        elif new != confirm:
            errors["confirm"] = "password.mismatch"
        elif new == current:
            errors["new"] = "password.same"
        else:
            try:
                await set_password(
                    session,
                    username=username,
                    password=new,
                    passwords=passwords_of(request),
                    settings=settings,
                    now=utc_now(),
                    by_admin=False,
                )
            except WeakPassword as exc:
                errors["new"] = "; ".join(exc.describe(reader_language(request))).capitalize()
            else:
                await end_sessions_of(session, username=username, keep=request.cookies.get(SESSION_COOKIE))
    if errors:
        return render_page(
            request,
            "password.html.j2",
            status_code=422,
            next=target,
            errors={name: say(request, key) for name, key in errors.items()},
            min_length=settings.min_password_length,
        )
    return _see(target)


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


@admin.put("/people/{username}/password", status_code=status.HTTP_204_NO_CONTENT)
async def set_person_password(
    username: str, body: PasswordSet, request: Request, runtime: RuntimeDep
) -> Response:
    """Set or reset a staff member's password. They must choose their own at their next sign-in, and
    every session they have open ends."""
    try:
        async with runtime.db.session() as session:
            await set_password(
                session,
                username=username,
                password=body.password,
                passwords=passwords_of(request),
                settings=sign_in_settings(request),
                now=utc_now(),
                by_admin=True,
            )
    except WeakPassword as exc:
        raise Invalid(str(exc), loc=("body", "password")) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
