"""Events about people: a member of staff changed in the directory, a citizen's one-time code."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from shared.events.base import Event


class DirectoryPersonChanged(Event):
    """A member of staff as the directory now has them (processing owns the directory); notify keeps
    its own copy of who is who from these."""

    type: Literal["directory.person.changed"] = "directory.person.changed"
    username: str
    full_name: str
    role: str
    agency_code: str | None
    unit_code: str | None
    email: str | None
    active: bool


class CitizenOneTimeCodeIssued(Event):
    """A one-time code for a citizen's sign-in, issued by intake for notify to send to the contact
    the dossier already holds.

    It is the one event that carries a secret: it travels in a stream of its own that keeps it no
    longer than the code lives, and notify erases the message it sent once ``expires_at`` passes.
    """

    type: Literal["citizen.one_time_code.issued"] = "citizen.one_time_code.issued"
    dossier_code: str
    challenge_id: UUID
    code: str
    channel: Literal["sms", "email"]
    # The phone number or email address the dossier holds; the citizen is addressed by id_number.
    destination: str
    id_number: str
    expires_at: datetime
