"""Staff passwords: the rules a new one meets, its Argon2 hash, and the lockout's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from services.processing.sign_in.lockout import Attempts, Lockout
from services.processing.sign_in.passwords import (
    RULES,
    Passwords,
    WeakPassword,
    check_password,
    password_problems,
)

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_a_password_of_ten_characters_that_is_not_the_username_is_accepted() -> None:
    assert check_password("hoa-sen-2026", username="demo-officer") == "hoa-sen-2026"
    assert password_problems("0123456789", username="demo-officer") == []


def test_a_short_password_is_refused_saying_how_long_it_must_be() -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password("ngan-qua", username="demo-officer")
    assert refused.value.problems == ["length"]
    assert "at least 10 characters" in str(refused.value)
    assert refused.value.describe("vi") == ["ít nhất 10 ký tự"]


def test_the_username_as_password_is_refused_whatever_its_case() -> None:
    assert password_problems("Demo-Officer", username="demo-officer", min_length=8) == ["username"]
    assert "username" in password_problems("h56-hc-tuphap-officer", username="h56-hc-tuphap-officer")


def test_spaces_around_a_password_and_very_long_ones_are_refused() -> None:
    assert password_problems(" hoa-sen-2026", username="an") == ["spaces"]
    assert password_problems("x" * 1025, username="an") == ["too_long"]


def test_every_rule_has_words_in_both_languages() -> None:
    for name, (english, vietnamese) in RULES.items():
        assert english and vietnamese, name
        assert WeakPassword([name], min_length=12).describe("vi") == [vietnamese.format(min_length=12)]


def test_a_hash_verifies_its_password_only() -> None:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    stored = passwords.hash("hoa-sen-2026")
    assert stored.startswith("$argon2id$") and "hoa-sen-2026" not in stored
    assert passwords.verify(stored, "hoa-sen-2026").matches
    assert not passwords.verify(stored, "hoa-sen-2027").matches
    assert not passwords.verify("not a hash", "hoa-sen-2026").matches


def test_a_hash_made_with_older_parameters_asks_to_be_remade() -> None:
    old = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)).hash("hoa-sen-2026")
    today = Passwords(PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1))
    verified = today.verify(old, "hoa-sen-2026")
    assert verified.matches and verified.needs_rehash
    assert not today.verify(today.hash("hoa-sen-2026"), "hoa-sen-2026").needs_rehash


def test_the_fifth_failure_in_a_row_locks_the_account_for_fifteen_minutes() -> None:
    lockout = Lockout(max_failures=5, minutes=15)
    state = Attempts(failures=0, locked_until=None)
    for expected in range(1, 5):
        state = lockout.after_failure(state, NOW)
        assert state == Attempts(failures=expected, locked_until=None)
        assert not lockout.is_locked(state, NOW)
    state = lockout.after_failure(state, NOW)
    assert state == Attempts(failures=5, locked_until=NOW + timedelta(minutes=15))
    assert lockout.is_locked(state, NOW + timedelta(minutes=14, seconds=59))
    assert not lockout.is_locked(state, NOW + timedelta(minutes=15))


def test_failures_while_locked_do_not_extend_the_lock() -> None:
    lockout = Lockout(max_failures=3, minutes=15)
    locked = Attempts(failures=3, locked_until=NOW + timedelta(minutes=15))
    assert lockout.after_failure(locked, NOW + timedelta(minutes=10)) == locked


def test_after_a_lock_runs_out_the_count_starts_again() -> None:
    lockout = Lockout(max_failures=3, minutes=15)
    ran_out = Attempts(failures=3, locked_until=NOW)
    assert lockout.after_failure(ran_out, NOW + timedelta(minutes=1)) == Attempts(
        failures=1, locked_until=None
    )


def test_a_success_clears_the_count() -> None:
    assert Lockout.after_success() == Attempts(failures=0, locked_until=None)
