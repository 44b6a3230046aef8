"""``motcua``: run the embedded system, migrate its databases, create admins, issue staff tokens and
handle dead letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from shared.settings import (
    DATABASE_SETTINGS,
    EMBEDDED_NATS_PORT,
    AuthSettings,
    CommonSettings,
    DatabaseUrlError,
    HttpSettings,
    MigrationSettings,
    NatsSettings,
    SecretError,
    ServiceName,
)

if TYPE_CHECKING:
    from services.processing.directory import PersonCreate
    from shared.db import Database
    from shared.migrations import MigrationHistory

SERVICES: tuple[ServiceName, ...] = ("intake", "processing", "notify")


def _history(service: ServiceName) -> MigrationHistory:
    from services.intake.migrations import history as intake
    from services.notify.migrations import history as notify
    from services.processing.migrations import history as processing

    histories: dict[ServiceName, MigrationHistory] = {
        "intake": intake,
        "processing": processing,
        "notify": notify,
    }
    return histories[service]


@asynccontextmanager
async def _database(service: ServiceName) -> AsyncIterator[Database]:
    """The service's database as the service itself would open it, from the same settings."""
    from shared.db import Database

    database = DATABASE_SETTINGS[service]()
    common = CommonSettings()
    url = database.url(common)
    if database.database_url is None:
        common.ensure_data_dir()
    db = Database(url, schema=database.database_schema)
    try:
        yield db
    finally:
        await db.dispose()


def _check_database_urls(services: Sequence[ServiceName]) -> bool:
    """One line per unusable ``MOTCUA_*_DATABASE_URL`` instead of a traceback from the driver."""
    usable = True
    for service in services:
        try:
            DATABASE_SETTINGS[service]().url(CommonSettings())
        except DatabaseUrlError as exc:
            print(f"motcua: {exc}", file=sys.stderr)
            usable = False
    return usable


def _check_secret() -> bool:
    """One line saying what is wrong with the JWT secret, instead of a service that signs with it."""
    try:
        AuthSettings().secret  # noqa: B018
    except SecretError as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return False
    return True


def _serve(service: ServiceName, host: str, port: int, internal: tuple[str, int] | None = None) -> None:
    """Serve ``service`` on ``host:port`` and, when given, on the internal address too: one app
    (one lifespan) on both sockets; the app tells them apart by the port a request came in on."""
    import uvicorn

    config = uvicorn.Config(
        f"services.{service}.app:app_factory",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        # Longer than the usual proxy idle timeout, so a kept-alive connection is never closed
        # under a client that is about to reuse it.
        timeout_keep_alive=75,
    )
    sockets = [config.bind_socket()]
    if internal is not None:
        internal_host, internal_port = internal
        sockets.append(uvicorn.Config(config.app, host=internal_host, port=internal_port).bind_socket())
    uvicorn.Server(config).run(sockets=sockets)


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def up(args: argparse.Namespace) -> int:
    """Start nats-server with JetStream in the data folder, then the three services; Ctrl-C stops all.

    Each service migrates its own database as it starts (unless migrations are run by hand)."""
    from shared.nats_server import NatsServer

    if not _check_database_urls(SERVICES):
        return 2
    # Made (or checked) once, before three services race to create it.
    if not _check_secret():
        return 2
    common = CommonSettings()
    data_dir = common.ensure_data_dir().resolve()
    http = HttpSettings()
    nats = NatsServer(data_dir / "nats", port=args.nats_port)
    print(f"motcua: starting nats-server {nats.binary} on {nats.url} (JetStream in {nats.store_dir})")
    nats.start()
    env = {**os.environ, "MOTCUA_NATS_URL": nats.url, "MOTCUA_DATA_DIR": str(data_dir)}
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in SERVICES:
            port = http.port(service)
            command = [
                sys.executable,
                "-m",
                "services.cli",
                "serve",
                service,
                "--host",
                http.host,
                "--port",
                str(port),
            ]
            children.append(subprocess.Popen(command, env=env, start_new_session=True))
        for service in SERVICES:
            url = f"http://{http.host}:{http.port(service)}"
            internal_port = http.internal_port(service)
            docs = url if internal_port is None else f"http://{http.internal_host}:{internal_port}"
            ready = _wait_ready(f"{url}/readyz", timeout=60)
            print(f"motcua: {service:<10} {url}  docs {docs}/docs  {'ready' if ready else 'NOT READY'}")
        first = "demo-officer" if common.demo else "USER (after `motcua admin create USER`)"
        print(f"motcua: data in {data_dir}; `motcua token {first}` prints a bearer token. Ctrl-C stops.")
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"motcua: a service exited with {child.returncode}; stopping everything")
                    stopping = True
            time.sleep(0.3)
    finally:
        print("motcua: stopping")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        nats.stop()
        print("motcua: stopped")
    return 0


async def _ready_to_serve(service: ServiceName) -> bool:
    """Migrate (or, with migrations run by hand, check) the database before the server is up, so that
    a database the service cannot start on is explained in one paragraph instead of a traceback.
    The service's own start then finds it at head."""
    from shared.migrations import MigrationError, prepare_database

    async with _database(service) as db:
        try:
            await prepare_database(db, _history(service), mode=MigrationSettings().mode)
        except MigrationError as exc:
            print(f"motcua: {exc}", file=sys.stderr)
            return False
    return True


def serve(args: argparse.Namespace) -> int:
    from shared.telemetry import configure_logging

    if not _check_database_urls([args.service]) or not _check_secret():
        return 2
    configure_logging()
    if not asyncio.run(_ready_to_serve(args.service)):
        return 1
    http = HttpSettings()
    internal_port = http.internal_port(args.service)
    internal = None if internal_port is None else (http.internal_host, internal_port)
    _serve(args.service, args.host or http.host, args.port or http.port(args.service), internal)
    return 0


async def _find_user(username: str) -> bool:
    from services.processing.directory import find_person
    from services.processing.seed import seed_directory
    from shared.migrations import prepare_database

    async with _database("processing") as db:
        await prepare_database(db, _history("processing"), mode=MigrationSettings().mode)
        async with db.session() as session:
            await seed_directory(session, demo=CommonSettings().demo)
            return await find_person(session, username=username) is not None


def token(args: argparse.Namespace) -> int:
    from shared.auth import issue_token
    from shared.migrations import MigrationError

    if not _check_database_urls(["processing"]) or not _check_secret():
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

    async with _database("processing") as db:
        await prepare_database(db, _history("processing"), mode=MigrationSettings().mode)
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

    if not _check_database_urls(["processing"]) or not _check_secret():
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
        history = _history(service)
        async with _database(service) as db:
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

        print(new_revision(_history(args.service), message=args.message))
        return 0
    services = [args.service] if getattr(args, "service", None) else SERVICES
    if not _check_database_urls(services):
        return 2
    return asyncio.run(_db(args))


def dlq(args: argparse.Namespace) -> int:
    if args.dlq_command == "replay" and not args.all and not args.sequences:
        print("motcua dlq replay: give sequence numbers or --all", file=sys.stderr)
        return 2
    return asyncio.run(_dlq(args))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="motcua", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("up", help="run nats-server and the three services (Ctrl-C stops)")
    run.add_argument(
        "--nats-port", type=int, default=int(os.environ.get("MOTCUA_NATS_PORT", EMBEDDED_NATS_PORT))
    )
    run.set_defaults(func=up)

    one = commands.add_parser("serve", help="run one service")
    one.add_argument("service", choices=SERVICES)
    one.add_argument("--host")
    one.add_argument("--port", type=int)
    one.set_defaults(func=serve)

    tok = commands.add_parser("token", help="print a bearer token for a user of the directory")
    tok.add_argument("user")
    tok.add_argument("--ttl", type=float, help="hours the token stays valid")
    tok.set_defaults(func=token)

    admins = commands.add_parser("admin", help="the directory's admins")
    admin_commands = admins.add_subparsers(dest="admin_command", required=True)
    make = admin_commands.add_parser(
        "create", help="add an admin to processing's directory and print a bearer token for it"
    )
    make.add_argument("user", help="the username (lower case, digits, '.', '_' and '-')")
    make.add_argument("--full-name", help="the name shown to colleagues (default: the username)")
    make.add_argument("--agency", help="the agency code the admin belongs to")
    make.add_argument("--unit", help="the unit code the admin belongs to")
    make.add_argument("--email", help="where the admin's notifications go")
    make.add_argument("--ttl", type=float, help="hours the printed token stays valid")
    admins.set_defaults(func=admin)

    data = commands.add_parser("db", help="the services' database migrations")
    data_commands = data.add_subparsers(dest="db_command", required=True)
    forward = data_commands.add_parser(
        "upgrade", help="apply pending migrations (back up first), to one service or all three"
    )
    forward.add_argument("service", nargs="?", choices=SERVICES)
    data_commands.add_parser("current", help="print each service's revision")
    written = data_commands.add_parser(
        "revision", help="write a service's next revision from its models (then read and tidy it)"
    )
    written.add_argument("service", choices=SERVICES)
    written.add_argument("-m", "--message", required=True, help="what the revision changes")
    data.set_defaults(func=db)

    dead = commands.add_parser("dlq", help="dead-lettered messages")
    dead_commands = dead.add_subparsers(dest="dlq_command", required=True)
    dead_commands.add_parser("list", help="print each dead letter as a JSON line")
    again = dead_commands.add_parser("replay", help="publish dead letters to their subject again")
    again.add_argument("sequences", nargs="*", type=int)
    again.add_argument("--all", action="store_true")
    dead.set_defaults(func=dlq)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
