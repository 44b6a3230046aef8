"""Lockout (khoá tạm): ``max_failures`` failed sign-ins in a row lock the account for ``minutes``.

Pure arithmetic over what ``staff_credential`` holds: the count of failures in a row and the moment
the lock ends. A success resets the count; a failure while locked changes nothing (the lock is not
extended by someone hammering on it, which would lock the owner out for ever)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Attempts:
    failures: int
    locked_until: datetime | None


@dataclass(frozen=True)
class Lockout:
    max_failures: int = 5
    minutes: float = 15.0

    def is_locked(self, state: Attempts, now: datetime) -> bool:
        return state.locked_until is not None and now < state.locked_until

    def after_failure(self, state: Attempts, now: datetime) -> Attempts:
        """The state after one more failure; the lock starts at the ``max_failures``-th."""
        if self.is_locked(state, now):
            return state
        # A lock that has run out starts a fresh count.
        failures = (0 if state.locked_until is not None else state.failures) + 1
        if failures >= self.max_failures:
            return Attempts(failures=failures, locked_until=now + timedelta(minutes=self.minutes))
        return Attempts(failures=failures, locked_until=None)

    @staticmethod
    def after_success() -> Attempts:
        return Attempts(failures=0, locked_until=None)
