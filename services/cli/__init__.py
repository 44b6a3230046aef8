"""``motcua``: run the embedded system, migrate its databases, create admins, issue staff tokens, set
staff passwords and handle dead letters."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from services.cli.common import SERVICES
from services.cli.operations import db, dlq
from services.cli.people import admin, password, token
from services.cli.running import serve, up
from shared.settings import EMBEDDED_NATS_PORT


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

    secret = commands.add_parser(
        "password", help="set or reset a staff member's password (changed by them at the next sign-in)"
    )
    secret.add_argument("user")
    secret.add_argument("--stdin", action="store_true", help="read the password from standard input")
    secret.set_defaults(func=password)

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
