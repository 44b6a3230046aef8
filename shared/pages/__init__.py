"""The pages' shared layer: a sandboxed Jinja2 environment per service, the layout, the stylesheet,
Vietnamese and English messages, the language switch, CSRF for forms and the security headers.

Start with ``Pages`` and ``mount_pages`` (``shared/pages/rendering.py`` shows a route), then
``render`` in each page route and ``require_csrf`` in each form handler (``shared/pages/csrf.py``).
"""

from shared.pages.csrf import CSRF_FIELD, CsrfRefused, csrf_valid, require_csrf
from shared.pages.i18n import LANGUAGE_COOKIE, Language, Messages, safe_next, shown_at
from shared.pages.rendering import (
    SECURITY_HEADERS,
    Pages,
    message,
    mount_pages,
    pages_of,
    reader_language,
    render,
    set_cookie,
)

__all__ = [
    "CSRF_FIELD",
    "LANGUAGE_COOKIE",
    "SECURITY_HEADERS",
    "CsrfRefused",
    "Language",
    "Messages",
    "Pages",
    "csrf_valid",
    "message",
    "mount_pages",
    "pages_of",
    "reader_language",
    "render",
    "require_csrf",
    "safe_next",
    "set_cookie",
    "shown_at",
]
