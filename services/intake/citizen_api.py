"""The citizen's sign-in and the status lookup: what code plus CCCD still shows, a one-time code
to the dossier's contact, and its exchange for a citizen session token. Identifiers travel only in
JSON bodies, and every answer carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.intake import receipt, views
from services.intake.citizen_sign_in import (
    Channel,
    CitizenSettings,
    CitizenSignIn,
    Limit,
    OneTimeCodeSignIn,
    RateLimited,
    SignInRefused,
    take,
)
from services.intake.schemas import LookupPublic
from shared.auth import issue_citizen_token
from shared.events import utc_now
from shared.http import CitizenSubject, RuntimeDep
from shared.runtime import ServiceRuntime
from shared.settings import AuthSettings

NOT_FOUND = "no dossier with this code and CCCD number"
# What the national portal shows of a dossier to whoever holds its code and CCCD: no personal data.
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(prefix="/api/v1", tags=["citizen"])


async def no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


NoStore = Depends(no_store)


async def citizen_settings(request: Request) -> CitizenSettings:
    configured = getattr(request.app.state, "citizen_settings", None)
    return configured if isinstance(configured, CitizenSettings) else CitizenSettings()


async def auth_settings(request: Request) -> AuthSettings:
    auth: AuthSettings = request.app.state.auth
    return auth


CitizenSettingsDep = Annotated[CitizenSettings, Depends(citizen_settings)]
AuthDep = Annotated[AuthSettings, Depends(auth_settings)]


def sign_in_of(runtime: ServiceRuntime, auth: AuthSettings) -> CitizenSignIn:
    return OneTimeCodeSignIn(runtime.outbox, secret=auth.secret)


def client_ip(request: Request, settings: CitizenSettings) -> str:
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def _limited(exc: RateLimited) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={**NO_STORE, "Retry-After": str(exc.retry_after)}
    )


async def _take_or_429(runtime: ServiceRuntime, auth: AuthSettings, *limits: Limit) -> None:
    """Count this request against ``limits`` in a unit of work of its own, committed whatever the
    request then finds, so that a miss (a guessed CCCD) counts like a hit; 429 past a limit."""
    async with runtime.db.session() as session:
        try:
            await take(session, list(limits), secret=auth.secret)
        except RateLimited as exc:
            raise _limited(exc) from exc


def not_found() -> HTTPException:
    """The one answer for a dossier that does not exist and for one that is not the caller's."""
    return HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND, headers=NO_STORE)


# The CCCD the caller's citizen session is bound to.
CitizenIdNumber = CitizenSubject


class DossierKey(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="the dossier code")
    id_number: str = Field(min_length=1, max_length=20, description="the applicant's CCCD")


class OneTimeCodeIn(BaseModel):
    dossier_code: str = Field(min_length=1, max_length=40)
    id_number: str = Field(min_length=1, max_length=20, description="the applicant's CCCD")
    channel: Channel | None = Field(default=None, description="sms or email; the phone when unset")


class OneTimeCodeOut(BaseModel):
    challenge_id: str
    channel: Channel
    destination: str = Field(description="the contact the code went to, masked")
    expires_at: datetime


class SessionIn(BaseModel):
    challenge_id: str = Field(min_length=1, max_length=36)
    code: str = Field(min_length=1, max_length=12)


class SessionOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


@router.get("/lookup", response_class=HTMLResponse)
async def lookup_page(
    code: Annotated[str, Query(max_length=40, description="the dossier code, filled in")] = "",
) -> HTMLResponse:
    """A page for people: the form of the lookup below, where the receipt's QR code leads."""
    return HTMLResponse(receipt.render_lookup_page(code))


@router.post("/lookup", dependencies=[NoStore], responses={404: {}, 429: {}})
async def lookup(
    body: DossierKey, request: Request, runtime: RuntimeDep, settings: CitizenSettingsDep, auth: AuthDep
) -> LookupPublic:
    """What the national portal shows for a code plus CCCD: status, due date, procedure."""
    await _take_or_429(
        runtime,
        auth,
        Limit(
            "lookup-ip",
            client_ip(request, settings),
            settings.lookups_per_ip,
            settings.lookups_per_ip_seconds,
        ),
        Limit(
            "lookup-dossier", body.code, settings.lookups_per_dossier, settings.lookups_per_dossier_seconds
        ),
    )
    async with runtime.db.reading() as session:
        dossier = await views.find_for_citizen(session, code=body.code, id_number=body.id_number)
        if dossier is None:
            raise not_found()
        return LookupPublic.model_validate(views.public_view(dossier), from_attributes=True)


@router.post(
    "/citizen/one-time-codes",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[NoStore],
    responses={404: {}, 422: {}, 429: {}},
)
async def send_one_time_code(
    body: OneTimeCodeIn, request: Request, runtime: RuntimeDep, settings: CitizenSettingsDep, auth: AuthDep
) -> OneTimeCodeOut:
    """Send a one-time code to the contact the dossier holds (its phone, else its email)."""
    await _take_or_429(
        runtime,
        auth,
        Limit("code-ip", client_ip(request, settings), settings.codes_per_ip, settings.codes_per_ip_seconds),
        Limit(
            "code-dossier", body.dossier_code, settings.codes_per_dossier, settings.codes_per_dossier_seconds
        ),
    )
    async with runtime.db.session() as session:
        dossier = await views.find_for_citizen(session, code=body.dossier_code, id_number=body.id_number)
        if dossier is None:
            raise not_found()
        try:
            started = await sign_in_of(runtime, auth).start(session, dossier=dossier, channel=body.channel)
        except SignInRefused as exc:
            raise HTTPException(exc.status, str(exc), headers=NO_STORE) from exc
    return OneTimeCodeOut(
        challenge_id=started.challenge_id,
        channel=started.channel,
        destination=started.destination,
        expires_at=started.expires_at,
    )


@router.post("/citizen/sessions", dependencies=[NoStore], responses={401: {}, 410: {}})
async def open_session(
    body: SessionIn, runtime: RuntimeDep, settings: CitizenSettingsDep, auth: AuthDep
) -> SessionOut:
    """Exchange the one-time code for a citizen token bound to the dossier's CCCD."""
    refused: SignInRefused | None = None
    async with runtime.db.session() as session:
        try:
            id_number = await sign_in_of(runtime, auth).complete(
                session, challenge_id=body.challenge_id, code=body.code.strip()
            )
        except SignInRefused as exc:
            # Caught inside the unit of work so that a wrong try is counted when it commits.
            refused = exc
    if refused is not None:
        raise HTTPException(refused.status, str(refused), headers={**NO_STORE, "WWW-Authenticate": "Bearer"})
    expires_at = utc_now() + timedelta(minutes=settings.session_minutes)
    token = issue_citizen_token(id_number, secret=auth.secret, ttl_minutes=settings.session_minutes)
    return SessionOut(access_token=token, expires_at=expires_at)
