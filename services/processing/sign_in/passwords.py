"""Passwords: the rules a new one must meet, and its Argon2 hash (argon2-cffi).

A stored hash carries the parameters it was made with; ``Passwords.verify`` says when they differ
from today's, so that the hash is remade from the password the user has just typed."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Each rule by name, with what it asks in English (the API's ``detail``) and Vietnamese (the pages).
RULES: dict[str, tuple[str, str]] = {
    "length": ("at least {min_length} characters", "ít nhất {min_length} ký tự"),
    "username": ("to differ from the username", "khác tên đăng nhập"),
    "spaces": ("no space at its start or end", "không có khoảng trắng ở đầu hay cuối"),
    "too_long": ("at most 1024 characters", "nhiều nhất 1024 ký tự"),
}


class WeakPassword(ValueError):
    """The password breaks rules: ``problems`` names them (keys of ``RULES``)."""

    def __init__(self, problems: list[str], *, min_length: int) -> None:
        self.problems = problems
        self.min_length = min_length
        super().__init__("the password needs " + "; ".join(self.describe("en")))

    def describe(self, language: str) -> list[str]:
        column = 1 if language == "vi" else 0
        return [RULES[name][column].format(min_length=self.min_length) for name in self.problems]


def password_problems(password: str, *, username: str, min_length: int = 10) -> list[str]:
    """Every rule (a key of ``RULES``) ``password`` breaks for ``username``; empty when it may be used."""
    problems = []
    if len(password) < min_length:
        problems.append("length")
    if password.strip().casefold() == username.strip().casefold():
        problems.append("username")
    if password != password.strip():
        problems.append("spaces")
    if len(password) > 1024:
        problems.append("too_long")
    return problems


def check_password(password: str, *, username: str, min_length: int = 10) -> str:
    """``password`` when it meets the rules; ``WeakPassword`` naming every rule it breaks."""
    problems = password_problems(password, username=username, min_length=min_length)
    if problems:
        raise WeakPassword(problems, min_length=min_length)
    return password


@dataclass(frozen=True)
class Verified:
    matches: bool
    # The hash was made with other parameters than today's: store ``Passwords.hash`` of it again.
    needs_rehash: bool = False


@dataclass(frozen=True)
class Passwords:
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> Verified:
        try:
            self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(matches=False)
        return Verified(matches=True, needs_rehash=self.hasher.check_needs_rehash(stored_hash))

    def burn(self, password: str) -> None:
        """Spend the time a verification takes, for a username without a password, so that the
        answer's timing does not tell which usernames exist."""
        self.verify(_DUMMY_HASH, password)


_DUMMY_HASH = PasswordHasher().hash("motcua-no-such-user-placeholder")
