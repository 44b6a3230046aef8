"""Who is calling processing: bearer JWTs checked against the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import directory
from shared import staff
from shared.http import TokenSubject, runtime_of, unauthorized
from shared.staff import Staff


async def current_actor(request: Request, username: TokenSubject) -> Staff:
    # A short session of its own: holding one for the whole request would take a second pooled
    # connection beside the action's own, and under load the pool runs dry. The action routes look
    # the actor up in their own transaction instead (``actor_named``).
    async with runtime_of(request).db.reading() as session:
        return await actor_named(session, username)


async def actor_named(session: AsyncSession, username: str) -> Staff:
    """The active staff member ``username`` of the directory; 401 when there is none."""
    person = await directory.find_person(session, username=username)
    if person is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return Staff(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


ActorDep = Annotated[Staff, Depends(current_actor)]


def require_admin(actor: ActorDep) -> Staff:
    return staff.require_admin(actor)


AdminDep = Annotated[Staff, Depends(require_admin)]
