"""Who is calling: a staff bearer token, checked against notify's copy of the directory, or, where
citizens read too, a citizen session token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.messages.notifications import Reader
from services.notify.staff.directory import find_active
from shared.auth import InvalidToken, verify_citizen_token, verify_token
from shared.http import BearerCredentials, TokenSubject, bearer_token, runtime_of, unauthorized
from shared.settings import AuthSettings
from shared.staff import Staff


async def current_viewer(request: Request, username: TokenSubject) -> Staff:
    async with runtime_of(request).db.reading() as session:
        person = await find_active(session=session, username=username)
    if person is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return Staff(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


ViewerDep = Annotated[Staff, Depends(current_viewer)]


async def current_reader(request: Request, credentials: BearerCredentials) -> Reader:
    token = bearer_token(credentials, required="a staff token or a citizen session is required")
    auth: AuthSettings = request.app.state.auth
    try:
        return Reader(id_number=verify_citizen_token(token, secret=auth.secret))
    except InvalidToken:
        pass
    try:
        username = verify_token(token, secret=auth.secret)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc
    async with runtime_of(request).db.reading() as session:
        person = await find_active(session=session, username=username)
    if person is None:
        raise unauthorized(f"unknown or inactive user {username}")
    return Reader(username=username, email=person.email)


ReaderDep = Annotated[Reader, Depends(current_reader)]
