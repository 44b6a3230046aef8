"""Pages for people, rendered on the server: one sandboxed Jinja2 environment per service, the
shared layout, the stylesheet, the language switch, and the security headers every page carries.

How a service uses it::

    pages = Pages(templates=Path(__file__).parent / "templates", messages=Path(__file__).parent)
    mount_pages(app, pages)                      # /static/motcua.css, /static/motcua.js, /lang

    @router.get("/things", response_class=HTMLResponse)
    async def things(request: Request) -> HTMLResponse:
        return render(request, "things.html.j2", things=[…])

A template extends ``layout.html.j2`` and fills ``title`` and ``content`` (and ``nav`` for links in
the header); ``forms.html.j2`` has macros for labelled fields with their errors. Every template
sees ``t(key, **values)`` (the reader's language), ``lang``, ``at(moment)`` and ``day(moment)``
(instants on Vietnam's clock), ``csrf_field()`` (the hidden input a form that changes something
needs; check it with ``shared.pages.require_csrf``) and ``current_path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from starlette.responses import Response as StarletteResponse

from shared.pages.csrf import CSRF_COOKIE, CSRF_FIELD, CsrfRefused, token_for
from shared.pages.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGE_COOKIE,
    SHARED_MESSAGES,
    Language,
    Messages,
    language_of,
    safe_next,
    shown_at,
    shown_on,
)

HERE: Final = Path(__file__).parent
# No inline script or style anywhere: everything comes from this site, nothing may frame a page.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
LANGUAGE_COOKIE_SECONDS: Final = 365 * 24 * 3600
STATIC_FILES: Final[Mapping[str, str]] = {
    "motcua.css": "text/css; charset=utf-8",
    "motcua.js": "text/javascript; charset=utf-8",
}


class Pages:
    """A service's pages: its templates (falling back to the shared layout and macros) and its
    message catalogs (over the shared ones), in a sandbox, resolved once and never reloaded."""

    def __init__(self, *, templates: Path, messages: Path) -> None:
        self.environment = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(HERE / "templates")]),
            # Pages show what people typed: everything is escaped unless marked safe.
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.messages = Messages([SHARED_MESSAGES, messages])
        self.static = {name: (HERE / "static" / name).read_bytes() for name in STATIC_FILES}


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def reader_language(request: Request) -> Language:
    """``?lang=`` when it names a language, else the ``lang`` cookie, else Vietnamese."""
    return (
        language_of(request.query_params.get("lang"))
        or language_of(request.cookies.get(LANGUAGE_COOKIE))
        or DEFAULT_LANGUAGE
    )


def message(request: Request, key: str, **values: object) -> str:
    """A message in the reader's language, for text a route composes (an error beside a field)."""
    return pages_of(request).messages.text(reader_language(request), key, **values)


def secure_cookie(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: StarletteResponse, request: Request, name: str, value: str, **options: Any) -> None:
    """A cookie as the pages set them all: HttpOnly, SameSite=Strict, Secure over https."""
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=secure_cookie(request), path="/", **options
    )


def _current_path(request: Request) -> str:
    query = [(name, value) for name, value in request.query_params.multi_items() if name != "lang"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def render(
    request: Request,
    name: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    csrf_binding: str = "",
    **context: Any,
) -> HTMLResponse:
    """The template ``name`` as an HTML response in the reader's language, with the security
    headers; ``csrf_binding`` ties the forms' tokens to a session (see ``shared.pages.csrf``)."""
    pages = pages_of(request)
    language = reader_language(request)
    messages = pages.messages

    def t(key: str, **values: object) -> str:
        return messages.text(language, key, **values)

    def at(moment: datetime | None) -> str:
        return shown_at(moment, language)

    def day(moment: datetime | None) -> str:
        return shown_on(moment, language)

    def csrf_field() -> Markup:
        token = token_for(request, csrf_binding)
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)

    current = _current_path(request)
    other: Language = "en" if language == "vi" else "vi"
    html = pages.environment.get_template(name).render(
        t=t,
        at=at,
        day=day,
        csrf_field=csrf_field,
        lang=language,
        other_lang=other,
        language_switch=f"/lang?{urlencode({'to': other, 'next': current})}",
        current_path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    planned = getattr(request.state, "csrf_cookie", None)
    if isinstance(planned, str):
        set_cookie(response, request, CSRF_COOKIE, planned)
    if request.query_params.get("lang") == language and request.cookies.get(LANGUAGE_COOKIE) != language:
        set_cookie(response, request, LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_SECONDS)
    return response


def mount_pages(app: FastAPI, pages: Pages) -> None:
    """Serve ``pages`` from ``app``: the stylesheet and script under ``/static/``, the language
    switch at ``/lang``, and the 403 page for a form without its CSRF token. The routes are in the
    OpenAPI document, so each service's authorization matrix needs their rows
    (``tests/service/authorization_portal.py`` has ``page_layer_rows(service)``)."""
    app.state.pages = pages

    @app.get("/static/{name}", tags=["pages"], response_class=Response)
    async def static_file(name: str) -> Response:
        content = pages.static.get(name)
        if content is None:
            return Response("not found", status_code=404, media_type="text/plain")
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(content, media_type=STATIC_FILES[name], headers=headers)

    @app.get("/lang", tags=["pages"], response_class=RedirectResponse, status_code=303)
    async def switch_language(
        request: Request,
        to: str = Query("vi", max_length=5, description="vi or en"),
        next: str = Query("/", max_length=2000, description="a path on this site to return to"),
    ) -> RedirectResponse:
        """Set the ``lang`` cookie and go back to ``next`` (a path on this site, else ``/``)."""
        response = RedirectResponse(safe_next(next), status_code=303)
        set_cookie(
            response,
            request,
            LANGUAGE_COOKIE,
            language_of(to) or DEFAULT_LANGUAGE,
            max_age=LANGUAGE_COOKIE_SECONDS,
        )
        return response

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: Exception) -> HTMLResponse:
        return render(request, "error.html.j2", status_code=403, message_key="pages.csrf_refused")
