"""HTTP routes for admins to read and override message templates; every route needs an admin's
bearer token. The rules live in ``templates_admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from services.notify.messages import templates_admin
from services.notify.messages.rendering import TemplateRenderer
from services.notify.messages.templates_admin import MessageTemplate
from services.notify.models import TemplateSourcesBase
from services.notify.web.auth import ViewerDep
from shared.errors import NotFound
from shared.events import utc_now
from shared.http import RuntimeDep, SessionDep
from shared.staff import Staff
from shared.staff import require_admin as shared_require_admin


async def require_admin(viewer: ViewerDep) -> Staff:
    return shared_require_admin(viewer)


AdminDep = Annotated[Staff, Depends(require_admin)]

templates_router = APIRouter(
    prefix="/api/v1/admin/templates", tags=["templates"], dependencies=[Depends(require_admin)]
)

KEY = "/{language}/{event_type}/{channel}"


async def renderer_of(request: Request) -> TemplateRenderer:
    """The renderer the event handlers render with, so that what validates renders."""
    renderer: TemplateRenderer = request.app.state.renderer
    return renderer


RendererDep = Annotated[TemplateRenderer, Depends(renderer_of)]


@templates_router.get("")
async def list_overrides(session: SessionDep) -> list[MessageTemplate]:
    """Every override in force, by language, event type and channel."""
    return list(await templates_admin.list(session=session))


@templates_router.get(KEY)
async def get_template(
    session: SessionDep, renderer: RendererDep, language: str, event_type: str, channel: str
) -> MessageTemplate:
    """The override for the key, or the shipped sources (``overridden`` false) to start one from."""
    found = await templates_admin.get(
        session=session, renderer=renderer, language=language, event_type=event_type, channel=channel
    )
    if found is None:
        raise NotFound(f"no {language} template for {event_type} by {channel}")
    return found


@templates_router.put(KEY)
async def put_template(
    runtime: RuntimeDep,
    renderer: RendererDep,
    admin: AdminDep,
    language: str,
    event_type: str,
    channel: str,
    sources: TemplateSourcesBase,
) -> MessageTemplate:
    """Override the template for the key; 422 with the reason when it would not render."""
    async with runtime.db.session() as session:
        return await templates_admin.put(
            session=session,
            renderer=renderer,
            language=language,
            event_type=event_type,
            channel=channel,
            subject=sources.subject,
            body=sources.body,
            updated_by=admin.username,
            now=utc_now(),
        )


@templates_router.delete(KEY, status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    runtime: RuntimeDep, renderer: RendererDep, language: str, event_type: str, channel: str
) -> Response:
    """Remove the override: the shipped template is used again."""
    async with runtime.db.session() as session:
        deleted = await templates_admin.delete(
            session=session, renderer=renderer, language=language, event_type=event_type, channel=channel
        )
    if not deleted:
        raise NotFound(f"no override of the {language} {event_type} {channel}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
