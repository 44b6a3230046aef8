"""Bearer tokens: what a check answers, the first time and from the kept checks after it."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from shared import auth
from shared.auth import (
    InvalidToken,
    issue_citizen_token,
    issue_token,
    verify_citizen_token,
    verify_token,
)
from shared.events import utc_now

SECRET = "a-secret-of-at-least-thirty-two-bytes-length"


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_verified", auth._Verified(size=3))


def test_a_token_gives_its_subject_again_and_again() -> None:
    token = issue_token("demo-officer", secret=SECRET)
    assert [verify_token(token, secret=SECRET) for _ in range(3)] == ["demo-officer"] * 3


def test_a_citizen_token_is_never_a_staff_token_nor_the_reverse_even_once_checked() -> None:
    citizen = issue_citizen_token("049090001234", secret=SECRET)
    staff = issue_token("demo-officer", secret=SECRET)
    assert verify_citizen_token(citizen, secret=SECRET) == "049090001234"
    assert verify_token(staff, secret=SECRET) == "demo-officer"
    with pytest.raises(InvalidToken):
        verify_token(citizen, secret=SECRET)
    with pytest.raises(InvalidToken):
        verify_citizen_token(staff, secret=SECRET)


def test_a_checked_token_is_refused_under_another_secret() -> None:
    token = issue_token("demo-officer", secret=SECRET)
    assert verify_token(token, secret=SECRET) == "demo-officer"
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(token, secret="another-secret-of-thirty-two-bytes-or-more")


def test_a_checked_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token("demo-officer", secret=SECRET, ttl_hours=1)
    assert verify_token(token, secret=SECRET) == "demo-officer"
    later = auth.time.time() + 3601
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, secret=SECRET)


def test_an_expired_or_forged_token_is_refused_and_not_kept() -> None:
    expired = issue_token("demo-officer", secret=SECRET, ttl_hours=-1)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(expired, secret=SECRET)
    claims = {"sub": "demo-admin", "iss": "motcua", "exp": utc_now() + timedelta(hours=1)}
    forged = jwt.encode(claims, "not-the-secret-but-thirty-two-bytes-long", algorithm="HS256")
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(forged, secret=SECRET)
    assert len(auth._verified._known) == 0


def test_the_kept_checks_are_bounded() -> None:
    tokens = [issue_token(f"officer-{number}", secret=SECRET) for number in range(5)]
    assert [verify_token(token, secret=SECRET) for token in tokens] == [f"officer-{n}" for n in range(5)]
    assert len(auth._verified._known) == 3
    # The oldest were let go, and are checked again from the token itself.
    assert verify_token(tokens[0], secret=SECRET) == "officer-0"
