"""The sign-in port: who is at the keyboard. ``PasswordAuthenticator`` checks a username and
password against ``staff_credential``; the province's single sign-on (OpenID Connect) will be another
``Authenticator``, and the pages will not change. Either way the directory decides who may sign in:
an inactive member of staff never does."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing import directory
from services.processing.models import StaffCredential
from services.processing.sign_in.lockout import Attempts, Lockout
from services.processing.sign_in.passwords import Passwords
from services.processing.sign_in.store import staff_of
from shared.staff import Staff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignInOutcome:
    """``signed_in`` with who; otherwise ``refused``, for every reason alike (unknown user, wrong
    password, inactive, locked), so that the answer tells nothing of which usernames exist."""

    result: Literal["signed_in", "refused"]
    staff: Staff | None = None
    must_change: bool = False

    @property
    def ok(self) -> bool:
        return self.result == "signed_in"


REFUSED = SignInOutcome("refused")


class Authenticator(Protocol):
    async def authenticate(
        self, session: AsyncSession, *, username: str, password: str, now: datetime
    ) -> SignInOutcome: ...


@dataclass(frozen=True)
class PasswordAuthenticator:
    lockout: Lockout = field(default_factory=Lockout)
    passwords: Passwords = field(default_factory=Passwords)

    async def authenticate(
        self, session: AsyncSession, *, username: str, password: str, now: datetime
    ) -> SignInOutcome:
        """Check the password in the caller's transaction, counting a failure or clearing the count."""
        person = await directory.find_person(session, username=username)
        credential = None if person is None else await session.get(StaffCredential, username)
        if person is None or credential is None:
            self.passwords.burn(password)
            return REFUSED
        state = Attempts(failures=credential.failed_attempts, locked_until=credential.locked_until)
        if self.lockout.is_locked(state, now):
            self.passwords.burn(password)
            return REFUSED
        verified = self.passwords.verify(credential.password_hash, password)
        if not verified.matches:
            after = self.lockout.after_failure(state, now)
            if after.locked_until is not None:
                log.warning(
                    "staff account %s locked for %g minutes after %d failed sign-ins",
                    username,
                    self.lockout.minutes,
                    after.failures,
                )
            credential.failed_attempts, credential.locked_until = after.failures, after.locked_until
            session.add(credential)
            return REFUSED
        cleared = self.lockout.after_success()
        credential.failed_attempts, credential.locked_until = cleared.failures, cleared.locked_until
        if verified.needs_rehash:
            credential.password_hash = self.passwords.hash(password)
        session.add(credential)
        return SignInOutcome("signed_in", staff=staff_of(person), must_change=credential.must_change)
