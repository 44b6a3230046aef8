"""Staff credentials and sessions in processing's database.

A session's cookie holds a random value; the table holds only its SHA-256, so that reading the
table (a backup, a replica) opens no session. Every read of a session checks, in one place, that it
has neither idled out nor outlived its absolute limit, and that its holder may still sign in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import Person, StaffCredential, StaffSession
from services.processing.sign_in.passwords import Passwords, check_password
from services.processing.sign_in.settings import SignInSettings
from shared.errors import NotFound
from shared.staff import Staff

# A session seen less than this long ago is not written again: a page's every request would
# otherwise be a write.
_TOUCH_EVERY = timedelta(minutes=1)


class UnknownStaff(NotFound):
    """No member of staff has that username."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def staff_of(person: Person) -> Staff:
    return Staff(
        username=person.username, role=person.role, agency_code=person.agency_code, unit_code=person.unit_code
    )


# -- passwords ------------------------------------------------------------------------------------
async def set_password(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    passwords: Passwords,
    settings: SignInSettings,
    now: datetime,
    by_admin: bool,
) -> StaffCredential:
    """Give ``username`` a password that meets the rules (``WeakPassword`` otherwise).

    Set by an admin (a new password, or a reset), it must be changed at the next sign-in, and every
    session of the user ends; chosen by the user, the lockout's count starts again."""
    person = await session.get(Person, username)
    if person is None:
        raise UnknownStaff(f"user {username} not found")
    check_password(password, username=username, min_length=settings.min_password_length)
    credential = await session.get(StaffCredential, username)
    if credential is None:
        credential = StaffCredential(username=username, password_hash="", changed_at=now)
    credential.password_hash = passwords.hash(password)
    credential.must_change = by_admin
    credential.failed_attempts = 0
    credential.locked_until = None
    credential.changed_at = now
    session.add(credential)
    if by_admin:
        await end_sessions_of(session, username=username)
    await session.flush()
    return credential


# -- sessions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedIn:
    """A live session: who holds it, and whether they must choose a password before anything else."""

    staff: Staff
    id_hash: str
    must_change: bool


async def open_session(
    session: AsyncSession, *, username: str, settings: SignInSettings, now: datetime
) -> str:
    """A new session for ``username``; the value for the cookie, which is stored nowhere."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id_hash=digest(token),
            username=username,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.absolute_hours),
        )
    )
    await session.flush()
    return token


async def signed_in(
    session: AsyncSession, *, token: str, settings: SignInSettings, now: datetime
) -> SignedIn | None:
    """The live session the cookie ``token`` opens, touched; ``None`` (and the row gone when it has
    ended) when it has idled out, expired, or its holder is inactive or gone from the directory."""
    row = await session.get(StaffSession, digest(token))
    if row is None:
        return None
    person = await session.get(Person, row.username)
    idle_until = row.last_seen_at + timedelta(minutes=settings.idle_minutes)
    if person is None or not person.active or now >= row.expires_at or now >= idle_until:
        await session.delete(row)
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    credential = await session.get(StaffCredential, row.username)
    must_change = credential is not None and credential.must_change
    return SignedIn(staff=staff_of(person), id_hash=row.id_hash, must_change=must_change)


async def end_session(session: AsyncSession, *, token: str) -> None:
    await session.exec(delete(StaffSession).where(col(StaffSession.id_hash) == digest(token)))


async def end_sessions_of(session: AsyncSession, *, username: str, keep: str | None = None) -> None:
    """End every session of ``username`` (but the one whose cookie is ``keep``)."""
    statement = delete(StaffSession).where(col(StaffSession.username) == username)
    if keep is not None:
        statement = statement.where(col(StaffSession.id_hash) != digest(keep))
    await session.exec(statement)


async def credential_of(session: AsyncSession, *, username: str) -> StaffCredential | None:
    return (await session.exec(select(StaffCredential).where(StaffCredential.username == username))).first()
