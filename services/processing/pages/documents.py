"""The dossier's documents for staff: each upload intake stored, read from the documents bucket
(``shared.bus.objects``), where intake puts it under ``{dossier code}/{sha256}``.

Only staff who may see the dossier get a file, and only one the dossier lists. A PDF or an image
opens in the browser; ``?download=1`` (and any other kind) downloads it. The URL holds the dossier
code and the content's sha256, never a name or a CCCD; nothing of the file is logged."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.processing import api
from services.processing.sign_in.web import PageStaffDep, render_page, say
from shared.bus.objects import BusAway, fetch, jetstream_of
from shared.bus.streams import DOCUMENTS
from shared.errors import NotFound
from shared.http import RuntimeDep, SessionDep

router = APIRouter(tags=["pages"])

# What a browser shows itself; anything else (a TIFF scan) is downloaded.
OPENED_IN_BROWSER = frozenset({"application/pdf", "image/png", "image/jpeg"})
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}


@router.get("/dossiers/{code}/documents/{sha256}", response_class=Response)
async def document_file(
    request: Request,
    code: str,
    sha256: str,
    runtime: RuntimeDep,
    session: SessionDep,
    me: PageStaffDep,
    download: bool = False,
) -> Response:
    """One document of the dossier, for staff who may see the dossier."""
    dossier = await api.get_dossier(code, session, me.staff)
    listed = [document for document in dossier.documents if document.get("sha256") == sha256]
    if not listed:
        raise NotFound(f"dossier {code} has no such document")
    try:
        stored = await fetch(jetstream_of(runtime), DOCUMENTS, f"{code}/{sha256}")
    except BusAway:
        stored = None
    if stored is None:
        # Not in the bucket yet (intake puts it there in the background), or NATS is away.
        return render_page(
            request, "problem.html.j2", status_code=503, message=say(request, "problem.document_later")
        )
    media_type = str(listed[0].get("media_type") or stored.media_type)
    inline = media_type in OPENED_IN_BROWSER and not download
    filename = f"{code}-{sha256[:8]}.{EXTENSIONS.get(media_type, 'bin')}"
    headers = {
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return Response(stored.content, media_type=media_type, headers=headers)
