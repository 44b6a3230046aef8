"""Staff bearer tokens: HS256 JWTs whose subject is a user of processing's directory."""

from __future__ import annotations

from datetime import timedelta

import jwt

from shared.events import utc_now

ALGORITHM = "HS256"
ISSUER = "motcua"


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
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    return str(claims["sub"])
