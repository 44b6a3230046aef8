"""Who is calling processing: bearer JWTs checked against the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import directory
from shared import staff
from shared.http import SessionDep, TokenSubject, unauthorized
from shared.staff import Staff


async def current_actor(session: SessionDep, username: TokenSubject) -> Staff:
    # In the request's reading session, which the route's own reads share: one transaction for the
    # lookup and the reads. The officers' actions, the busiest writes, open no reading session: they
    # look the actor up in their own transaction (``actor_named``). An admin route that writes holds
    # both for its (rare, short) request.
    return await actor_named(session, username)


async def actor_named(session: AsyncSession, username: str) -> Staff:
    """The active staff member ``username`` of the directory; 401 when there is none."""
    found = await directory.find_staff(session, username=username)
    if found is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return found


ActorDep = Annotated[Staff, Depends(current_actor)]


async def require_admin(actor: ActorDep) -> Staff:
    return staff.require_admin(actor)


AdminDep = Annotated[Staff, Depends(require_admin)]
