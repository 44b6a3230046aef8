"""The rules of a one-time code for a citizen's sign-in, as plain functions.

A code is 6 random digits, lives 5 minutes and allows 5 tries. Only its HMAC-SHA256 (keyed by the
service secret, salted by the challenge id) is kept, so a copy of the database does not hold codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

CODE_DIGITS = 6
LIFETIME = timedelta(minutes=5)
MAX_TRIES = 5


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, *, challenge_id: str, secret: str) -> str:
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def mask(destination: str) -> str:
    """A phone or email shown so its owner recognises it: ``09******56``, ``a***@example.vn``."""
    if "@" in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain}"
    return destination[:2] + "*" * max(len(destination) - 4, 0) + destination[-2:]


class Outcome(Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    USED = "used"


@dataclass(frozen=True)
class ChallengeState:
    code_hash: str
    expires_at: datetime
    failed_tries: int
    used: bool


def check(state: ChallengeState, *, code: str, challenge_id: str, secret: str, now: datetime) -> Outcome:
    """What a try with ``code`` gives; a dead challenge (used, expired, out of tries) stays dead
    whatever the code, so a right code after 5 wrong ones is still refused."""
    if state.used:
        return Outcome.USED
    if state.failed_tries >= MAX_TRIES:
        return Outcome.EXHAUSTED
    if now >= state.expires_at:
        return Outcome.EXPIRED
    expected = hash_code(code, challenge_id=challenge_id, secret=secret)
    return Outcome.ACCEPTED if hmac.compare_digest(expected, state.code_hash) else Outcome.WRONG
