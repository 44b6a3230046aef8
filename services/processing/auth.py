"""Who is calling processing: bearer JWTs checked against the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.processing import directory, domain
from shared.auth import InvalidToken, verify_token
from shared.http import runtime_of
from shared.settings import AuthSettings

_bearer = HTTPBearer(auto_error=False)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> domain.Actor:
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers=unauthorized)
    auth: AuthSettings = request.app.state.auth
    try:
        username = verify_token(credentials.credentials, secret=auth.secret)
    except InvalidToken as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=unauthorized) from exc
    # A short session of its own: holding one for the whole request would take a second pooled
    # connection beside the action's own, and under load the pool runs dry.
    async with runtime_of(request).db.reading() as session:
        person = await directory.find_person(session, username=username)
    if person is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"unknown or inactive user {username}", headers=unauthorized
        )
    return domain.Actor(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


ActorDep = Annotated[domain.Actor, Depends(current_actor)]


def require_admin(actor: ActorDep) -> domain.Actor:
    if actor.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{actor.username} ({actor.role}) is not an admin")
    return actor


AdminDep = Annotated[domain.Actor, Depends(require_admin)]
