"""Who may do what on the bus: one NATS user per service, allowed to publish only the events it
owns and to read only the streams it consumes, and an operator user for ``motcua dlq``.

The embedded nats-server (``shared.nats_server``) and the compose cluster (``deploy/nats.conf``)
are configured from this table, so that a service whose handlers change needs one edit here. A
fake ``directory.person.changed`` could make someone admin and a fake ``dossier.refused`` would go
out as an official SMS: only processing publishes those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from shared.bus.streams import (
    ALERT,
    CATALOG,
    CITIZEN,
    DEAD_LETTER_PREFIX,
    DECLARED,
    DIRECTORY,
    DOCUMENTS,
    DOSSIER,
    MAX_DELIVERIES,
    RESULTS,
    SLA,
    BucketSpec,
    StreamSpec,
    max_deliveries_durable,
)

OPERATOR = "operator"
API = "$JS.API"


@dataclass(frozen=True)
class BusAccess:
    """What one service does on the bus."""

    # Event subjects it publishes (through its outbox).
    publishes: tuple[str, ...]
    # Streams it reads through durable consumers (and fetches single messages from, to
    # dead-letter one that ran out of deliveries).
    consumes: tuple[StreamSpec, ...]
    # JetStream API subjects beyond those, for what only this service does.
    api: tuple[str, ...] = ()
    # Object Store buckets it puts files into, and those it reads files from.
    writes: tuple[BucketSpec, ...] = ()
    reads: tuple[BucketSpec, ...] = ()
    # The durables of one dossier subject each that ran before a group of its handlers took them
    # over (one durable for them all, ``ConsumerSpec.group``): it deletes them, and their twins,
    # once. Names of the past, kept as they were: a subject that joins a group later never had a
    # durable of its own, and is not here.
    replaced: tuple[str, ...] = ()


ACCESS: dict[str, BusAccess] = {
    "intake": BusAccess(
        publishes=(
            "dossier.submitted",
            "dossier.supplement.provided",
            "dossier.withdrawal.requested",
            "dossier.rated",
            "citizen.>",
        ),
        consumes=(DOSSIER, CATALOG),
        writes=(DOCUMENTS,),
        reads=(RESULTS,),
        replaced=(
            "intake__dossier_accepted",
            "intake__dossier_refused",
            "intake__dossier_step_assigned",
            "intake__dossier_supplement_requested",
            "intake__dossier_withdrawn",
            "intake__dossier_resolved",
            "intake__dossier_result_returned",
            "intake__dossier_rescheduled",
            "intake__dossier_request_declined",
        ),
    ),
    "processing": BusAccess(
        publishes=(
            "dossier.accepted",
            "dossier.refused",
            "dossier.step.>",
            "dossier.supplement.requested",
            "dossier.withdrawn",
            "dossier.resolved",
            "dossier.result.returned",
            "dossier.rescheduled",
            "dossier.request.declined",
            "catalog.>",
            "directory.>",
            "sla.>",
            "alert.>",
        ),
        consumes=(DOSSIER, SLA),
        api=(
            # Re-arming a dossier's SLA timers purges the ones its new plan drops.
            f"{API}.STREAM.PURGE.{SLA.name}",
            # The reconciler reads the armed timers with an ordered consumer, which it deletes
            # afterwards and which asks for flow control.
            f"{API}.CONSUMER.DELETE.{SLA.name}.>",
            "$JS.FC.>",
        ),
        writes=(RESULTS,),
        reads=(DOCUMENTS,),
    ),
    "notify": BusAccess(
        publishes=(),
        consumes=(DOSSIER, ALERT, DIRECTORY, CITIZEN),
        replaced=(
            "notify__dossier_accepted",
            "notify__dossier_refused",
            "notify__dossier_supplement_requested",
            "notify__dossier_withdrawn",
            "notify__dossier_resolved",
            "notify__dossier_result_returned",
            "notify__dossier_rescheduled",
            "notify__dossier_request_declined",
            "notify__dossier_step_assigned",
            "notify__dossier_step_completed",
        ),
    ),
}
SERVICE_USERS: tuple[str, ...] = tuple(ACCESS)
USERS: tuple[str, ...] = (*SERVICE_USERS, OPERATOR)


def inbox_prefix(user: str) -> str:
    """Replies to a user's requests (JetStream acks, fetched messages) come to inboxes under this
    prefix, which only that user may subscribe to: with one shared ``_INBOX.>`` every user could
    read the messages fetched by the others."""
    return f"_INBOX_{user}"


def _reading(stream: StreamSpec) -> list[str]:
    name = stream.name
    return [
        f"{API}.CONSUMER.CREATE.{name}",
        f"{API}.CONSUMER.CREATE.{name}.>",
        f"{API}.CONSUMER.DURABLE.CREATE.{name}.*",
        f"{API}.CONSUMER.INFO.{name}.*",
        f"{API}.CONSUMER.MSG.NEXT.{name}.*",
        f"{API}.STREAM.MSG.GET.{name}",
        f"$JS.ACK.{name}.>",
    ]


def _writing(bucket: BucketSpec) -> list[str]:
    """Putting an object: its chunks and its description, the description it replaces read first,
    and the old chunks (or those of a failed put) purged."""
    return [
        f"$O.{bucket.bucket}.C.>",
        f"$O.{bucket.bucket}.M.>",
        f"{API}.STREAM.MSG.GET.{bucket.name}",
        f"{API}.STREAM.PURGE.{bucket.name}",
    ]


def _fetching(bucket: BucketSpec) -> list[str]:
    """Getting an object: its description, then its chunks through an ordered consumer (which asks
    for flow control and is deleted when it is done)."""
    return [
        f"{API}.STREAM.MSG.GET.{bucket.name}",
        f"{API}.CONSUMER.CREATE.{bucket.name}",
        f"{API}.CONSUMER.CREATE.{bucket.name}.>",
        f"{API}.CONSUMER.DELETE.{bucket.name}.>",
        "$JS.FC.>",
    ]


def permissions(user: str) -> dict[str, dict[str, list[str]]]:
    """The nats-server permissions block of ``user``."""
    if user == OPERATOR:
        # ``motcua dlq`` lists dead letters, replays them to their own subject and deletes them.
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    access = ACCESS[user]
    publish = [
        *access.publishes,
        # Dead letters under its own name: ``motcua dlq replay`` trusts a letter only for the
        # streams its writer reads.
        f"{DEAD_LETTER_PREFIX}.{user}.>",
        f"{API}.INFO",
        f"{API}.STREAM.NAMES",
        # Every service declares the streams it starts on (``ensure_streams``); none may delete or
        # purge one.
        *(
            f"{API}.STREAM.{verb}.{stream.name}"
            for stream in DECLARED
            for verb in ("INFO", "CREATE", "UPDATE")
        ),
        *(subject for stream in (*access.consumes, MAX_DELIVERIES) for subject in _reading(stream)),
        *access.api,
        *(
            f"{API}.CONSUMER.DELETE.{stream}.{name}"
            for durable in access.replaced
            for stream, name in (
                (DOSSIER.name, durable),
                (MAX_DELIVERIES.name, max_deliveries_durable(durable)),
            )
        ),
        *(subject for bucket in access.writes for subject in _writing(bucket)),
        *(subject for bucket in access.reads for subject in _fetching(bucket)),
    ]
    # Kept in order, without the repeats of two buckets' shared subjects.
    publish = list(dict.fromkeys(publish))
    return {"publish": {"allow": publish}, "subscribe": {"allow": [f"{inbox_prefix(user)}.>"]}}


def authorization(passwords: Mapping[str, str]) -> str:
    """The ``authorization`` block of a nats-server configuration: every user of ``USERS`` with its
    password (a ``$VARIABLE`` is left for the server to read from its environment) and its
    permissions. No user means no entry: an anonymous connection is refused."""
    users = []
    for user in USERS:
        password = passwords[user]
        written = password if password.startswith("$") else json.dumps(password)
        users.append(
            f"    {{user: {json.dumps(user)}, password: {written}, "
            f"permissions: {json.dumps(permissions(user), sort_keys=True)}}}"
        )
    return "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n}\n"


def password_variable(user: str) -> str:
    """The environment variable that holds ``user``'s password in the compose deployment."""
    return f"MOTCUA_NATS_{user.upper()}_PASSWORD"


COMPOSE_CONFIG_HEADER = (
    "# The NATS users of the compose cluster, written by shared.bus.permissions.compose_config() (a\n"
    "# test keeps this file equal to it). Each password is read from the server's environment.\n"
)


def compose_config() -> str:
    """``deploy/nats.conf``: the same users as the embedded server, passwords from the environment."""
    return COMPOSE_CONFIG_HEADER + authorization({user: f"${password_variable(user)}" for user in USERS})
