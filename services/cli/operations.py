"""``motcua db`` and ``motcua dlq``: the databases' migrations and the dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from services.cli.common import SERVICES, check_database_urls, database, migration_history
from shared.settings import (
    CommonSettings,
    NatsSettings,
    ServiceName,
)


async def _dlq(args: argparse.Namespace) -> int:
    import nats

    from shared.bus.dead_letter import UntrustedDeadLetter, list_dead_letters, replay
    from shared.bus.permissions import OPERATOR, inbox_prefix

    settings = NatsSettings()
    login: dict[str, str] = {}
    if credentials := settings.credentials(OPERATOR, CommonSettings()):
        login = {
            "user": credentials[0],
            "password": credentials[1],
            "inbox_prefix": inbox_prefix(credentials[0]),
        }
    connection = await nats.connect(settings.servers, connect_timeout=5, max_reconnect_attempts=1, **login)
    try:
        js = connection.jetstream()
        letters = await list_dead_letters(js)
        if args.dlq_command == "list":
            for letter in letters:
                row = {
                    "sequence": letter.sequence,
                    "subject": letter.subject,
                    "consumer": letter.consumer,
                    "deliveries": letter.deliveries,
                    "error": letter.error,
                    "body": letter.body.decode(errors="replace")[:500],
                }
                print(json.dumps(row, ensure_ascii=False))
            if not letters:
                print("no dead letters", file=sys.stderr)
            return 0
        wanted = set(args.sequences)
        chosen = [letter for letter in letters if args.all or letter.sequence in wanted]
        missing = wanted - {letter.sequence for letter in chosen}
        refused = False
        for letter in chosen:
            try:
                await replay(js, letter)
            except UntrustedDeadLetter as exc:
                print(f"motcua: {exc}", file=sys.stderr)
                refused = True
                continue
            print(f"replayed {letter.sequence} to {letter.subject}")
        if missing:
            print(f"no dead letter with sequence {sorted(missing)}", file=sys.stderr)
        return 1 if missing or refused else 0
    finally:
        await connection.close()


async def _db(args: argparse.Namespace) -> int:
    from shared.migrations import MigrationError, current_revision, upgrade

    services: Sequence[ServiceName] = [args.service] if getattr(args, "service", None) else SERVICES
    failed = False
    for service in services:
        history = migration_history(service)
        async with database(service) as db:
            before = await current_revision(db, history)
            if args.db_command == "current":
                state = "at head" if before == history.head else f"head is {history.head}"
                print(f"{service}: {before or 'none'} ({state})")
                continue
            try:
                await upgrade(db, history)
            except MigrationError as exc:
                print(f"motcua: {exc}", file=sys.stderr)
                failed = True
                continue
            after = await current_revision(db, history)
            change = f"{before or 'none'} -> {after}" if before != after else f"already at {after}"
            print(f"{service}: {change}")
    return 1 if failed else 0


def db(args: argparse.Namespace) -> int:
    if args.db_command == "revision":
        from shared.migrations import new_revision

        print(new_revision(migration_history(args.service), message=args.message))
        return 0
    services = [args.service] if getattr(args, "service", None) else SERVICES
    if not check_database_urls(services):
        return 2
    return asyncio.run(_db(args))


def dlq(args: argparse.Namespace) -> int:
    if args.dlq_command == "replay" and not args.all and not args.sequences:
        print("motcua dlq replay: give sequence numbers or --all", file=sys.stderr)
        return 2
    return asyncio.run(_dlq(args))
