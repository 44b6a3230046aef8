"""A member of staff as every service sees them, and the one rule of whose dossiers they reach.

Scope (phạm vi): officers and managers work within their unit, leaders within their agency, admins
everywhere. ``in_scope`` says it for one item and ``scope_clause`` as a WHERE clause, so a list and
a single read can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, false, true

from shared.errors import Forbidden

Role = Literal["officer", "manager", "leader", "admin"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Staff:
    username: str
    role: str
    agency_code: str | None
    unit_code: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def in_scope(self, *, agency_code: str | None, unit_code: str | None) -> bool:
        if self.role == "admin":
            return True
        if self.role == "leader":
            return self.agency_code is not None and self.agency_code == agency_code
        if self.role in {"officer", "manager"}:
            return self.unit_code is not None and self.unit_code == unit_code
        return False

    def scope_clause(self, *, agency_column: Any, unit_column: Any) -> ColumnElement[bool]:
        """``in_scope`` as a WHERE clause over the given agency and unit columns."""
        if self.role == "admin":
            return true()
        if self.role == "leader":
            return agency_column == self.agency_code if self.agency_code else false()
        if self.role in {"officer", "manager"}:
            return unit_column == self.unit_code if self.unit_code else false()
        return false()

    def check_scope(self, *, agency_code: str | None, unit_code: str | None, what: str) -> None:
        """Raise ``Forbidden`` unless ``what`` (at that agency and unit) is within reach."""
        if not self.in_scope(agency_code=agency_code, unit_code=unit_code):
            raise Forbidden(f"{self.username} ({self.role}) has no access to {what}")


def require_admin(staff: Staff) -> Staff:
    if not staff.is_admin:
        raise Forbidden(f"{staff.username} ({staff.role}) is not an admin")
    return staff
