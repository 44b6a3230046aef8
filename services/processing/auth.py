"""Who is calling processing: bearer JWTs checked against the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.processing import directory, domain
from shared.http import TokenSubject, runtime_of, unauthorized


async def current_actor(request: Request, username: TokenSubject) -> domain.Actor:
    # A short session of its own: holding one for the whole request would take a second pooled
    # connection beside the action's own, and under load the pool runs dry.
    async with runtime_of(request).db.reading() as session:
        person = await directory.find_person(session, username=username)
    if person is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return domain.Actor(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


ActorDep = Annotated[domain.Actor, Depends(current_actor)]


def require_admin(actor: ActorDep) -> domain.Actor:
    if actor.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{actor.username} ({actor.role}) is not an admin")
    return actor


AdminDep = Annotated[domain.Actor, Depends(require_admin)]
