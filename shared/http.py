"""FastAPI dependencies every service's routes share.

Each is a coroutine function: FastAPI runs a plain function dependency on a worker thread, a hand-over
per request that costs more than the function itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import InvalidToken, verify_citizen_token, verify_token
from shared.runtime import ServiceRuntime
from shared.settings import AuthSettings


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def reading_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session for the request; writes open their own unit of work on the runtime."""
    async with runtime_of(request).db.reading() as session:
        yield session


async def _runtime(request: Request) -> ServiceRuntime:
    return runtime_of(request)


SessionDep = Annotated[AsyncSession, Depends(reading_session)]
RuntimeDep = Annotated[ServiceRuntime, Depends(_runtime)]

# Pages of every list route: bounded, so that the database never sees an offset past its integers
# (such an offset answered 500 before).
MAX_OFFSET = 10_000_000
Limit = Annotated[int, Query(ge=1, le=200, description="how many items, at most 200")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"items to skip, at most {MAX_OFFSET:,}")]


_bearer = HTTPBearer(auto_error=False)


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None, *, required: str) -> str:
    """The token of an ``Authorization: Bearer`` header; 401 saying ``required`` without one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized(required)
    return credentials.credentials


async def token_subject(request: Request, credentials: BearerCredentials) -> str:
    """The username a valid staff bearer token was issued to (``app.state.auth`` holds the secret)."""
    token = bearer_token(credentials, required="a bearer token is required")
    auth: AuthSettings = request.app.state.auth
    try:
        return verify_token(token, secret=auth.secret)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


async def citizen_subject(request: Request, credentials: BearerCredentials) -> str:
    """The CCCD a valid citizen session token is bound to; staff tokens are refused."""
    token = bearer_token(credentials, required="a citizen session is required: Authorization: Bearer <token>")
    auth: AuthSettings = request.app.state.auth
    try:
        return verify_citizen_token(token, secret=auth.secret)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


TokenSubject = Annotated[str, Depends(token_subject)]
CitizenSubject = Annotated[str, Depends(citizen_subject)]
