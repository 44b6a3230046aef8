"""Bearer tokens: HS256 JWTs signed with the one secret the services share.

- A staff token's subject is a user of processing's directory; it carries no audience.
- A citizen token's subject is the CCCD a citizen proved they hold (by a one-time code sent to the
  contact their dossier holds, or another sign-in); its audience is ``citizen``, so that it is
  never taken for a staff token, nor a staff token for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from shared.events import utc_now

ALGORITHM = "HS256"
ISSUER = "motcua"
CITIZEN_AUDIENCE = "citizen"


class InvalidToken(Exception):
    pass


def issue_token(username: str, *, secret: str, ttl_hours: float = 12.0) -> str:
    now = utc_now()
    claims = {"sub": username, "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=ttl_hours)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str) -> str:
    """The username the token was issued to; raises ``InvalidToken`` with the reason otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:
        # Not only InvalidTokenError: a key the library refuses must answer 401 too, never 500.
        raise InvalidToken(f"invalid token: {exc}") from exc
    return str(claims["sub"])


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
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=CITIZEN_AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:
        # Not only InvalidTokenError: a key the library refuses must answer 401 too, never 500.
        raise InvalidToken(f"invalid token: {exc}") from exc
    return str(claims["sub"])
