"""``motcua token`` and ``motcua admin create``: staff tokens, and the first admin."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from services.cli.common import check_database_urls, check_secret, database, migration_history
from shared.settings import (
    AuthSettings,
    CommonSettings,
    MigrationSettings,
)

if TYPE_CHECKING:
    from services.processing.directory import PersonCreate


async def _find_user(username: str) -> bool:
    from services.processing.directory import find_person
    from services.processing.seed import seed_directory
    from shared.migrations import prepare_database

    async with database("processing") as db:
        await prepare_database(db, migration_history("processing"), mode=MigrationSettings().mode)
        async with db.session() as session:
            await seed_directory(session, demo=CommonSettings().demo)
            return await find_person(session, username=username) is not None


def token(args: argparse.Namespace) -> int:
    from shared.auth import issue_token
    from shared.migrations import MigrationError

    if not check_database_urls(["processing"]) or not check_secret():
        return 2
    try:
        found = asyncio.run(_find_user(args.user))
    except MigrationError as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"motcua: no active user {args.user!r} in the directory", file=sys.stderr)
        return 1
    auth = AuthSettings()
    print(issue_token(args.user, secret=auth.secret, ttl_hours=args.ttl or auth.token_ttl_hours))
    return 0


async def _create_admin(person: PersonCreate) -> None:
    """Add ``person`` to processing's directory as the admin API would: the row and its
    ``directory.person.changed`` in one transaction, which processing's outbox relay then publishes
    to the other services."""
    from services.processing.directory import enrol_person
    from services.processing.models import metadata
    from services.processing.seed import seed_directory
    from shared.bus.outbox import Outbox, outbox_table
    from shared.migrations import prepare_database

    async with database("processing") as db:
        await prepare_database(db, migration_history("processing"), mode=MigrationSettings().mode)
        async with db.session() as session:
            # The agency or unit named may be one of the seed's, on a database no service started on yet.
            await seed_directory(session, demo=CommonSettings().demo)
        async with db.session() as session:
            await enrol_person(session, Outbox(outbox_table(metadata)), person=person)


def admin(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.processing.directory import DirectoryConflict, InvalidEntry, PersonCreate
    from shared.auth import issue_token
    from shared.migrations import MigrationError

    if not check_database_urls(["processing"]) or not check_secret():
        return 2
    try:
        person = PersonCreate(
            username=args.user,
            full_name=args.full_name or args.user,
            role="admin",
            agency_code=args.agency,
            unit_code=args.unit,
            email=args.email,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        print(f"motcua admin create: {problems}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_create_admin(person))
    except (MigrationError, DirectoryConflict, InvalidEntry) as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return 1
    auth = AuthSettings()
    print(f"motcua: admin {person.username} created; a bearer token for it follows", file=sys.stderr)
    print(issue_token(person.username, secret=auth.secret, ttl_hours=args.ttl or auth.token_ttl_hours))
    return 0


async def _set_password(username: str, password: str) -> None:
    """Set ``username``'s password as an admin would: it must be changed at the next sign-in."""
    from services.processing.seed import seed_directory
    from services.processing.sign_in.passwords import Passwords
    from services.processing.sign_in.settings import SignInSettings
    from services.processing.sign_in.store import set_password
    from shared.events import utc_now
    from shared.migrations import prepare_database

    async with database("processing") as db:
        await prepare_database(db, migration_history("processing"), mode=MigrationSettings().mode)
        async with db.session() as session:
            # As for ``motcua token``: the demo's people on a database no service started on yet.
            await seed_directory(session, demo=CommonSettings().demo)
        async with db.session() as session:
            await set_password(
                session,
                username=username,
                password=password,
                passwords=Passwords(),
                settings=SignInSettings(),
                now=utc_now(),
                by_admin=True,
            )


def password(args: argparse.Namespace) -> int:
    """``motcua password USER``: the password is read from the terminal (twice), or from the first
    line of standard input with ``--stdin``; it is never an argument, which ``ps`` would show."""
    import getpass

    from services.processing.sign_in.passwords import WeakPassword
    from services.processing.sign_in.store import UnknownStaff
    from shared.migrations import MigrationError

    if not check_database_urls(["processing"]):
        return 2
    if args.stdin:
        chosen = sys.stdin.readline().rstrip("\n")
    else:
        chosen = getpass.getpass(f"New password for {args.user}: ")
        if getpass.getpass("Again: ") != chosen:
            print("motcua: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    try:
        asyncio.run(_set_password(args.user, chosen))
    except WeakPassword as exc:
        print(f"motcua: {exc}; nothing changed", file=sys.stderr)
        return 2
    except (MigrationError, UnknownStaff) as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return 1
    print(
        f"motcua: password of {args.user} set; they choose their own at their next sign-in, "
        "and their open sessions have ended",
        file=sys.stderr,
    )
    return 0
