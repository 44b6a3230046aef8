"""The demo's password: with ``MOTCUA_DEMO=true`` every seeded demo user without a password gets this
one, so that a newcomer can sign in to the pages at once (``motcua up`` prints it). It exists only in
the demo, whose usernames are public anyway; elsewhere an admin sets each password."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.processing.models import StaffCredential
from services.processing.seed import SEED_PEOPLE
from services.processing.sign_in.passwords import Passwords
from shared.events import utc_now

DEMO_PASSWORD = "motcua-demo-2026"


async def seed_demo_passwords(session: AsyncSession, *, passwords: Passwords | None = None) -> None:
    """Give the demo password to each seed person who has none; a password someone chose stays.

    One hash for all of them: Argon2 salts each hash, but hashing dozens of times would slow
    every start, and they share the password anyway."""
    usernames = [person.username for person in SEED_PEOPLE]
    having = set(
        (
            await session.exec(
                select(StaffCredential.username).where(col(StaffCredential.username).in_(usernames))
            )
        ).all()
    )
    missing = [username for username in usernames if username not in having]
    if not missing:
        return
    hashed = (passwords or Passwords()).hash(DEMO_PASSWORD)
    now = utc_now()
    for username in missing:
        # Not to be changed at first sign-in: the demo is for trying the pages, not for keeping secrets.
        session.add(
            StaffCredential(username=username, password_hash=hashed, must_change=False, changed_at=now)
        )
    await session.flush()
