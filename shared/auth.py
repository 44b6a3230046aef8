"""Bearer tokens: HS256 JWTs signed with the one secret the services share.

- A staff token's subject is a user of processing's directory; it carries no audience.
- A citizen token's subject is the CCCD a citizen proved they hold (by a one-time code sent to the
  contact their dossier holds, or another sign-in); its audience is ``citizen``, so that it is
  never taken for a staff token, nor a staff token for it."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.events import utc_now

ALGORITHM = "HS256"
ISSUER = "motcua"
CITIZEN_AUDIENCE = "citizen"


class InvalidToken(Exception):
    pass


class _Verified:
    """Tokens whose signature and claims were checked, with their subject and expiry, so that a
    client sending the same token with each request costs one check, not one per request. Only
    valid tokens are kept, at most ``size`` of them (least recently used first out), and a token is
    taken from here only while it has not expired."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: OrderedDict[tuple[str, str, str | None], tuple[str, float]] = OrderedDict()

    def subject(self, token: str, *, secret: str, audience: str | None, **decoding: Any) -> str:
        key = (secret, token, audience)
        known = self._known.get(key)
        if known is not None:
            subject, expires = known
            if time.time() < expires:
                self._known.move_to_end(key)
                return subject
            del self._known[key]
            raise InvalidToken("token expired")
        try:
            decoded = jwt.decode(
                token, secret, algorithms=[ALGORITHM], issuer=ISSUER, audience=audience, **decoding
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            # Not only InvalidTokenError: a key the library refuses must answer 401 too, never 500.
            raise InvalidToken(f"invalid token: {exc}") from exc
        subject = str(decoded["sub"])
        self._known[key] = (subject, float(decoded["exp"]))
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return subject


_verified = _Verified()


def issue_token(username: str, *, secret: str, ttl_hours: float = 12.0) -> str:
    now = utc_now()
    claims = {"sub": username, "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=ttl_hours)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str) -> str:
    """The username the token was issued to; raises ``InvalidToken`` with the reason otherwise."""
    return _verified.subject(token, secret=secret, audience=None, options={"require": ["sub", "exp"]})


def token_expires_at(token: str, *, secret: str) -> datetime:
    """When a valid staff token stops being accepted; raises ``InvalidToken`` like ``verify_token``."""
    verify_token(token, secret=secret)
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER)
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


def issue_citizen_token(id_number: str, *, secret: str, ttl_minutes: float = 30.0) -> str:
    now = utc_now()
    claims = {
        "sub": id_number,
        "aud": CITIZEN_AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_citizen_token(token: str, *, secret: str) -> str:
    """The CCCD the citizen token was issued for; raises ``InvalidToken`` otherwise."""
    return _verified.subject(
        token, secret=secret, audience=CITIZEN_AUDIENCE, options={"require": ["sub", "exp", "aud"]}
    )
