"""Processing's pages for staff: the officer's worklist and dossier pages (``workspace``), rendered
with the shared page layer (``shared.pages``) from the templates and messages beside this module.
The sign-in pages are in ``services.processing.sign_in``."""

from __future__ import annotations

from pathlib import Path

from shared.pages import Pages

HERE = Path(__file__).parent


def staff_pages() -> Pages:
    return Pages(templates=HERE / "templates", messages=HERE)
