"""The one-time code's rules: hashed at rest, 5 minutes, 5 tries, used once."""

from __future__ import annotations

from datetime import timedelta

from services.intake.one_time_code import (
    LIFETIME,
    MAX_TRIES,
    ChallengeState,
    Outcome,
    check,
    hash_code,
    mask,
    new_code,
)
from shared.events import utc_now

SECRET = "s" * 48
CHALLENGE = "00000000-0000-0000-0000-000000000001"
NOW = utc_now()


def _state(
    code: str = "123456", *, tries: int = 0, used: bool = False, age: timedelta = timedelta()
) -> ChallengeState:
    return ChallengeState(
        code_hash=hash_code(code, challenge_id=CHALLENGE, secret=SECRET),
        expires_at=NOW - age + LIFETIME,
        failed_tries=tries,
        used=used,
    )


def test_a_code_is_six_digits() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) > 150


def test_the_hash_does_not_hold_the_code_and_depends_on_secret_and_challenge() -> None:
    digest = hash_code("123456", challenge_id=CHALLENGE, secret=SECRET)
    assert "123456" not in digest
    assert digest != hash_code("123456", challenge_id=CHALLENGE, secret="t" * 48)
    assert digest != hash_code("123456", challenge_id="other", secret=SECRET)


def test_the_right_code_in_time_is_accepted_and_a_wrong_one_is_not() -> None:
    assert check(_state(), code="123456", challenge_id=CHALLENGE, secret=SECRET, now=NOW) is Outcome.ACCEPTED
    assert check(_state(), code="654321", challenge_id=CHALLENGE, secret=SECRET, now=NOW) is Outcome.WRONG


def test_a_code_expires_after_five_minutes() -> None:
    state = _state(age=LIFETIME)
    assert check(state, code="123456", challenge_id=CHALLENGE, secret=SECRET, now=NOW) is Outcome.EXPIRED


def test_after_five_wrong_tries_even_the_right_code_is_refused() -> None:
    state = _state(tries=MAX_TRIES)
    assert check(state, code="123456", challenge_id=CHALLENGE, secret=SECRET, now=NOW) is Outcome.EXHAUSTED


def test_a_used_code_cannot_be_used_again() -> None:
    state = _state(used=True)
    assert check(state, code="123456", challenge_id=CHALLENGE, secret=SECRET, now=NOW) is Outcome.USED


def test_contacts_are_masked() -> None:
    assert mask("0905123456") == "09******56"
    assert mask("an@example.vn") == "a***@example.vn"
