"""Who is calling: a staff bearer token, checked against notify's copy of the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.alerts import Viewer
from services.notify.directory import find_active
from shared.http import TokenSubject, runtime_of, unauthorized


async def current_viewer(request: Request, username: TokenSubject) -> Viewer:
    async with runtime_of(request).db.reading() as session:
        person = await find_active(session=session, username=username)
    if person is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return Viewer(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
