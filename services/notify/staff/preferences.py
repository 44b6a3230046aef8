"""How each member of staff wants to hear from notify: language, alert email, and the daily digest
(managers and leaders) instead of one message per alert."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.messages.recipients import preferences_of
from services.notify.models import StaffPreferences, StaffPreferencesBase, StaffPreferencesPublic
from shared.db import upsert
from shared.errors import Forbidden, Invalid
from shared.staff import Staff

LANGUAGES = frozenset({"vi", "en"})
# The digest lists the alerts of a whole scope; an officer's alerts are their own dossiers, which
# they must hear of when they happen.
DIGEST_ROLES = frozenset({"manager", "leader", "admin"})


class NotAllowed(Forbidden):
    """The caller may not choose this; the message says why."""


async def get(*, session: AsyncSession, username: str) -> StaffPreferencesPublic:
    current = (await preferences_of(session=session, usernames=[username]))[username]
    fields = StaffPreferencesBase.model_fields.keys()
    return StaffPreferencesPublic(username=username, **current.model_dump(include=set(fields)))


async def put(
    *, session: AsyncSession, viewer: Staff, wanted: StaffPreferencesBase, now: datetime
) -> StaffPreferencesPublic:
    """Replace the viewer's preferences; raises ``NotAllowed`` for a digest outside the digest roles
    and ``Invalid`` for a language notify has no templates in."""
    if wanted.language not in LANGUAGES:
        raise Invalid(f"language must be one of {sorted(LANGUAGES)}, not {wanted.language!r}")
    if wanted.daily_digest and viewer.role not in DIGEST_ROLES:
        raise NotAllowed(
            f"the daily digest is for managers and leaders, and {viewer.username} is {viewer.role}"
        )
    await upsert(
        session,
        StaffPreferences,
        key={"username": viewer.username},
        values={**wanted.model_dump(), "updated_at": now},
    )
    return StaffPreferencesPublic(username=viewer.username, **wanted.model_dump())
