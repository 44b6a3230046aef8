"""The citizen portal at intake's root: the catalog, the submission form and its receipt, the
look-up, and the citizen's own dossier after a one-time code. Server-rendered pages over the same
code as the API, on the shared page layer (``shared.pages``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.types import Scope

from services.intake.files import FileSettings
from services.intake.pages import catalog_pages, citizen_pages, submission_pages
from shared.body_limit import BodyCap, is_multipart
from shared.pages import Pages, mount_pages

HERE: Final = Path(__file__).parent
# The portal's forms that carry files: bounded by the upload limits, as the API's upload routes are.
_UPLOAD_PATH: Final = re.compile(r"^/(procedures/[^/]+/submit|dossiers/[^/]+/supplement)$")


def mount_portal(app: FastAPI) -> None:
    mount_pages(app, Pages(templates=HERE.parent / "templates", messages=HERE))
    for module in (catalog_pages, submission_pages, citizen_pages):
        app.include_router(module.router)


def portal_cap(api_cap: BodyCap) -> BodyCap:
    """``api_cap``, except that a multipart POST to a portal form with files may carry a whole
    dossier's files (``FileSettings.request_budget``)."""

    def cap(scope: Scope) -> int:
        if scope["method"] == "POST" and _UPLOAD_PATH.match(scope["path"]) and is_multipart(scope):
            configured = getattr(scope["app"].state, "intake_file_settings", None)
            limits = configured if isinstance(configured, FileSettings) else FileSettings()
            return limits.request_budget()
        return api_cap(scope)

    return cap
