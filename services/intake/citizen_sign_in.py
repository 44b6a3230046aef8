"""Citizen sign-in behind one interface: the routes start a challenge for a dossier's applicant and
complete it for the CCCD it proves. The one-time code sent to the dossier's contact is the first
way; a national identity provider (VNeID over OpenID Connect) is another class beside it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake import one_time_code
from services.intake.models import CitizenChallenge, Dossier, RateLimitHit
from shared.bus.outbox import Outbox
from shared.events import CitizenOneTimeCodeIssued, utc_now

Channel = Literal["sms", "email"]


class CitizenSettings(BaseSettings):
    """Citizen sessions and the limits on codes and lookups (``MOTCUA_INTAKE_CITIZEN_*``)."""

    model_config = SettingsConfigDict(env_prefix="MOTCUA_INTAKE_CITIZEN_", extra="ignore")

    session_minutes: float = 30.0
    codes_per_dossier: int = 3
    codes_per_dossier_seconds: int = 15 * 60
    codes_per_ip: int = 10
    codes_per_ip_seconds: int = 3600
    lookups_per_ip: int = 30
    lookups_per_ip_seconds: int = 60
    lookups_per_dossier: int = 10
    lookups_per_dossier_seconds: int = 60
    # Behind a reverse proxy, the client is the first address of X-Forwarded-For; off by default,
    # since anyone can send that header to a service that is reached directly.
    trust_forwarded_for: bool = False


class SignInRefused(Exception):
    """The challenge cannot be started or completed; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChallengeStarted:
    challenge_id: str
    channel: Channel
    destination: str  # masked
    expires_at: datetime


class CitizenSignIn(Protocol):
    async def start(
        self, session: AsyncSession, *, dossier: Dossier, channel: Channel | None
    ) -> ChallengeStarted: ...

    async def complete(self, session: AsyncSession, *, challenge_id: str, code: str) -> str:
        """The CCCD the completed challenge proves; raises ``SignInRefused`` otherwise."""
        ...


class OneTimeCodeSignIn:
    """A one-time code to the phone (else the email) the dossier holds, through notify."""

    def __init__(self, outbox: Outbox, *, secret: str) -> None:
        self.outbox = outbox
        self.secret = secret

    async def start(
        self, session: AsyncSession, *, dossier: Dossier, channel: Channel | None
    ) -> ChallengeStarted:
        contacts: dict[Channel, str | None] = {"sms": dossier.phone, "email": dossier.email}
        chosen: Channel = channel or ("sms" if dossier.phone else "email")
        destination = contacts[chosen]
        if not destination:
            held = "this contact" if channel else "a phone number or an email address"
            raise SignInRefused(422, f"the dossier holds no {held} to send a code to")
        challenge_id, code, now = str(uuid.uuid4()), one_time_code.new_code(), utc_now()
        expires_at = now + one_time_code.LIFETIME
        session.add(
            CitizenChallenge(
                id=challenge_id,
                dossier_code=dossier.code,
                code_hash=one_time_code.hash_code(code, challenge_id=challenge_id, secret=self.secret),
                channel=chosen,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.outbox.add(
            session,
            CitizenOneTimeCodeIssued(
                dossier_code=dossier.code,
                challenge_id=uuid.UUID(challenge_id),
                code=code,
                channel=chosen,
                destination=destination,
                id_number=dossier.id_number,
                expires_at=expires_at,
            ),
        )
        return ChallengeStarted(challenge_id, chosen, one_time_code.mask(destination), expires_at)

    async def complete(self, session: AsyncSession, *, challenge_id: str, code: str) -> str:
        challenge = await session.get(CitizenChallenge, challenge_id, with_for_update=True)
        if challenge is None:
            raise SignInRefused(401, "unknown challenge; ask for a new code")
        state = one_time_code.ChallengeState(
            challenge.code_hash, challenge.expires_at, challenge.failed_tries, challenge.used_at is not None
        )
        now = utc_now()
        outcome = one_time_code.check(
            state, code=code, challenge_id=challenge_id, secret=self.secret, now=now
        )
        if outcome is one_time_code.Outcome.WRONG:
            left = one_time_code.MAX_TRIES - challenge.failed_tries - 1
            await session.execute(
                update(CitizenChallenge)
                .where(col(CitizenChallenge.id) == challenge_id)
                .values(failed_tries=CitizenChallenge.failed_tries + 1)
            )
            hint = f"{left} tries left" if left else "no tries left; ask for a new code"
            raise SignInRefused(401, f"wrong code: {hint}")
        if outcome is not one_time_code.Outcome.ACCEPTED:
            raise SignInRefused(410, _DEAD[outcome])
        # Only one of two concurrent right tries marks it used; the other finds it taken.
        marked = await session.execute(
            update(CitizenChallenge)
            .where(col(CitizenChallenge.id) == challenge_id, col(CitizenChallenge.used_at).is_(None))
            .values(used_at=now)
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            raise SignInRefused(410, _DEAD[one_time_code.Outcome.USED])
        dossier = await session.get(Dossier, challenge.dossier_code)
        if dossier is None:
            raise SignInRefused(401, "unknown challenge; ask for a new code")
        return dossier.id_number


_DEAD = {
    one_time_code.Outcome.USED: "this code was already used; ask for a new code",
    one_time_code.Outcome.EXPIRED: "this code has expired; ask for a new code",
    one_time_code.Outcome.EXHAUSTED: "too many wrong tries for this code; ask for a new code",
}


# -- rate limits ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    name: str
    key: str
    count: int
    seconds: int


class RateLimited(Exception):
    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"too many requests ({limit.name}); try again in {retry_after} s")
        self.retry_after = retry_after


def _bucket(limit: Limit, secret: str) -> str:
    return hmac.new(secret.encode(), f"{limit.name}:{limit.key}".encode(), hashlib.sha256).hexdigest()


async def take(session: AsyncSession, limits: list[Limit], *, secret: str) -> None:
    """Count one request against each limit, in the database so that every replica shares the
    count; raises ``RateLimited`` (counting nothing) when one is already used up."""
    now = utc_now()
    buckets = [(limit, _bucket(limit, secret)) for limit in limits]
    for limit, bucket in buckets:
        since = now - timedelta(seconds=limit.seconds)
        found = await session.execute(
            select(func.count(), func.min(RateLimitHit.at)).where(
                col(RateLimitHit.bucket) == bucket, col(RateLimitHit.at) > since
            )
        )
        hits, oldest = found.one()
        if hits >= limit.count and oldest is not None:
            retry_after = max(1, int((oldest + timedelta(seconds=limit.seconds) - now).total_seconds()) + 1)
            raise RateLimited(limit, retry_after)
    for _limit, bucket in buckets:
        session.add(RateLimitHit(bucket=bucket, at=now))


async def prune(session: AsyncSession, *, keep_seconds: int) -> None:
    """Delete hits older than the longest window, and challenges dead for as long."""
    before = utc_now() - timedelta(seconds=keep_seconds)
    await session.execute(delete(RateLimitHit).where(col(RateLimitHit.at) < before))
    await session.execute(delete(CitizenChallenge).where(col(CitizenChallenge.expires_at) < before))
