"""Outbox: events are written in the same transaction as the change that causes them, and a relay
inside the service publishes them with ``Nats-Msg-Id = event_id``. Losing NATS for a while loses
nothing: rows wait until the relay can publish them.

One relay publishes at a time, whatever the number of replicas, so that rows reach NATS in outbox
id order: the SLA timers of a dossier are only right if an older arm or purge never lands after a
newer one. On PostgreSQL the relay holds a transaction-level advisory lock for its pass (released
by the server if the relay dies); on SQLite, which has no such lock, the leases of the rows it
claimed are the lock: nobody claims while another relay's lease on an unsent row runs, and a relay
stops publishing before its lease runs out. A pass that published but failed to record it leaves
its rows to the next pass, which publishes them again in the same order; NATS drops the copies it
already has by their ``Nats-Msg-Id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry import propagate
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    event,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, UtcDateTime, advisory_lock_key
from shared.driver_statements import DriverStatement
from shared.events import Event, utc_now
from shared.settings import OutboxSettings
from shared.worker import BackgroundWorker, backoff_seconds

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.05
# Events that carry a secret (a citizen's one-time code): their row keeps no payload once NATS has
# the message, so that the code is not at rest in the database for the outbox's retention.
ERASED_ONCE_SENT = frozenset({"citizen.one_time_code.issued"})


def outbox_table(metadata: MetaData) -> Table:
    if "outbox" in metadata.tables:  # a second app of the same service in one process
        return metadata.tables["outbox"]
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("subject", String(255), nullable=False),
        Column("payload", Text, nullable=False),
        # W3C trace context of the request that caused the event, so that its trace goes on in NATS.
        Column("trace_headers", Text, nullable=False, default="{}"),
        # What the message needs on the bus besides its id and trace, e.g. a schedule.
        Column("headers", Text, nullable=False, default="{}"),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime(), nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("lease_owner", String(36), nullable=True),
        Column("lease_until", UtcDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
    )


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    event_id: str
    subject: str
    payload: bytes
    trace_headers: dict[str, str]
    headers: dict[str, str]


# What is left to do once a message is acknowledged (a purge's API call after its marker).
FollowUp = Callable[[], Awaitable[None]]
# Puts the message on the wire and returns once it is written, in the order of the calls, with
# what then waits for its acknowledgement (and returns its follow-up, if any); or with nothing, when
# the message was handled by the time the call returned (the in-process bus).
Acknowledgement = Awaitable[FollowUp | None]
Publish = Callable[[OutboxMessage], Awaitable[Acknowledgement | None]]


class Outbox:
    """Writes events beside the state change, and wakes the relay once the change commits."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._listeners: list[Callable[[], None]] = []
        self._insert = DriverStatement(table.insert())

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def add(self, session: AsyncSession, *events: Event) -> None:
        if not events:
            # An empty executemany is an INSERT of defaults only, which the table refuses.
            return
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)
        now = utc_now()
        rows = [
            {
                "event_id": str(item.event_id),
                "subject": item.subject,
                "payload": item.model_dump_json(),
                "trace_headers": json.dumps(trace_headers),
                "headers": json.dumps(item.bus_headers()),
                "created_at": now,
                "attempts": 0,
            }
            for item in events
        ]
        await self._insert.run_many(session, rows)
        if self._listeners:
            session.info.setdefault(_WAKE_AFTER_COMMIT, {})[id(self)] = self._listeners

    async def pending_count(self, session: AsyncSession) -> int:
        statement = select(func.count()).select_from(self.table).where(self.table.c.sent_at.is_(None))
        return int((await session.execute(statement)).scalar_one())


# The listeners of each outbox that a session added to, called once it commits. One listener for
# every session, registered once: listening per session, on each add, cost more CPU than the add's
# own insert.
_WAKE_AFTER_COMMIT = "motcua.outbox.wake_after_commit"


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    for listeners in session.info.pop(_WAKE_AFTER_COMMIT, {}).values():
        for listener in listeners:
            listener()


class OutboxRelay:
    """Publishes committed outbox rows in order, one batch at a time, until stopped."""

    def __init__(
        self, db: Database, outbox: Outbox, publish: Publish, settings: OutboxSettings | None = None
    ) -> None:
        self.db = db
        self.table = outbox.table
        self.publish = publish
        self.settings = settings or OutboxSettings()
        self.owner = str(uuid.uuid4())
        self._statements = _RelayStatements(self.table)
        self.worker = BackgroundWorker("outbox-relay", self._relay_pass)
        self._failures = 0
        self._busy = False
        outbox.on_commit(self.worker.wake)

    def wake(self) -> None:
        self.worker.wake()

    def start(self) -> None:
        self._failures = 0
        self.worker.start()

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        await self.worker.stop(grace_seconds=grace_seconds)

    async def _relay_pass(self) -> float:
        self._busy = False
        published, complete = await self.relay_once()
        if not complete:
            # NATS or the database is away: back off, but not so far that recovery feels slow.
            self._failures += 1
            return backoff_seconds(self._failures)
        self._failures = 0
        if self._busy:
            # Another replica is publishing; the rows this one's commits woke it for are likely
            # behind that pass, so look again soon rather than after the idle poll.
            return min(BUSY_RETRY_SECONDS, self.settings.idle_poll_seconds)
        return 0.0 if published >= self.settings.batch_size else self.settings.idle_poll_seconds

    async def relay_once(self) -> tuple[int, bool]:
        """Publish one batch; returns how many were published and whether all claimed rows went out.
        While another relay holds the turn, nothing is published and the pass counts as complete."""
        if self.db.is_postgres:
            return await self._relay_locked()
        return await self._relay_leased()

    async def _relay_locked(self) -> tuple[int, bool]:
        statements = self._statements
        async with self.db.flow_session() as session:
            key = advisory_lock_key("motcua.outbox-relay", self.db.schema)
            [(turn,)] = await statements.turn.rows(session, {"key": key})
            if not turn:
                self._busy = True
                return 0, True
            rows = await statements.unsent.rows(session, {"batch": self.settings.batch_size})
            messages = [_message(row) for row in rows]
            sent, error = await self._publish_all(messages)
            await self._record(session, messages, sent, error)
        return len(sent), error is None

    async def _relay_leased(self) -> tuple[int, bool]:
        statements = self._statements
        now = utc_now()
        lease = self.settings.lease_seconds
        async with self.db.flow_session() as session:
            [(held_elsewhere,)] = await statements.held_elsewhere.rows(
                session, {"owner": self.owner, "now": now}
            )
            if held_elsewhere:
                self._busy = True
                return 0, True
            rows = await statements.claim.rows(
                session,
                {
                    "owner": self.owner,
                    "until": now + timedelta(seconds=lease),
                    "batch": self.settings.batch_size,
                },
            )
        # The lease was taken at ``now``; keep a publish timeout's margin so that no publish of this
        # pass can still be under way when another relay may claim.
        deadline = asyncio.get_running_loop().time() + lease - self.settings.publish_timeout_seconds
        messages = sorted((_message(row) for row in rows), key=lambda message: message.id)
        if not messages:
            return 0, True
        sent, error = await self._publish_all(messages, deadline=deadline)
        async with self.db.flow_session() as session:
            await self._record(session, messages, sent, error)
        return len(sent), error is None

    async def _publish_all(
        self, messages: Sequence[OutboxMessage], *, deadline: float | None = None
    ) -> tuple[list[int], str | None]:
        """Write the messages one after the other on the one connection, so that NATS stores them
        in outbox order, then await their acknowledgements together, instead of a round trip each.

        A purge's marker takes its place in that order like any message; the purge itself (an API
        call) follows once the marker is acknowledged, all of a pass's purges together. That is
        safe because a purge removes only what lies below its marker's sequence: a timer armed after
        it lands above the marker and stays, whenever the purge runs. The first failure stops the
        pass, and so does ``deadline`` (the loop's clock) coming close: what is before it counts as
        sent, the rest is published again in a later pass, where NATS drops the copies it already
        has by their ``Nats-Msg-Id`` (a marker published again keeps its first sequence, so its
        purge still stops where it first would have)."""
        loop = asyncio.get_running_loop()
        written: list[tuple[OutboxMessage, Acknowledgement | None]] = []
        failure: str | None = None
        for message in messages:
            if deadline is not None and loop.time() >= deadline:
                failure = "the relay's lease ran out before the batch was published"
                break
            try:
                written.append((message, await self.publish(message)))
            except Exception as exc:
                logger.warning("outbox publish of %s failed: %r", message.subject, exc)
                failure = repr(exc)[:1000]
                break
        acknowledged = await asyncio.gather(
            *(_completed() if ack is None else ack for _, ack in written), return_exceptions=True
        )
        sent: list[int] = []
        follow_ups: list[tuple[int, FollowUp]] = []
        for (message, _), outcome in zip(written, acknowledged, strict=True):
            if isinstance(outcome, BaseException):
                logger.warning("outbox publish of %s failed: %r", message.subject, outcome)
                failure = repr(outcome)[:1000]
                break
            if outcome is not None:
                follow_ups.append((len(sent), outcome))
            sent.append(message.id)
        done = await asyncio.gather(*(follow_up() for _, follow_up in follow_ups), return_exceptions=True)
        for (position, _), result in zip(follow_ups, done, strict=True):
            if isinstance(result, BaseException):
                logger.warning("outbox purge failed: %r", result)
                # The marker stays unsent, and so does everything after it.
                return sent[:position], repr(result)[:1000]
        return sent, failure

    async def _record(
        self, session: AsyncSession, messages: Sequence[OutboxMessage], sent: list[int], error: str | None
    ) -> None:
        statements = self._statements
        sent_ids = set(sent)
        now = utc_now()
        await statements.sent.run_many(session, [{"row": row, "now": now} for row in sent])
        erased = [
            {"row": message.id}
            for message in messages
            if message.id in sent_ids and message.subject in ERASED_ONCE_SENT
        ]
        await statements.erase.run_many(session, erased)
        unsent = [{"row": message.id, "error": error} for message in messages if message.id not in sent_ids]
        await statements.unsent_again.run_many(session, unsent)


async def _completed() -> FollowUp | None:
    return None


class _RelayStatements:
    """The relay's statements, each on the driver (``DriverStatement``): a pass runs a few of them
    for every batch the services publish."""

    def __init__(self, table: Table) -> None:
        columns = table.c
        message = (columns.id, columns.event_id, columns.subject, columns.payload, columns.trace_headers)
        message_columns = (*message, columns.headers)
        row = columns.id == bindparam("row")
        self.turn = DriverStatement(
            select(func.pg_try_advisory_xact_lock(bindparam("key", type_=BigInteger)))
        )
        self.unsent = DriverStatement(
            select(*message_columns)
            .where(columns.sent_at.is_(None))
            .order_by(columns.id)
            .limit(bindparam("batch", type_=Integer))
        )
        self.held_elsewhere = DriverStatement(
            select(
                exists().where(
                    and_(
                        columns.sent_at.is_(None),
                        columns.lease_owner != bindparam("owner"),
                        columns.lease_until >= bindparam("now", type_=UtcDateTime()),
                    )
                )
            )
        )
        claimable = (
            select(columns.id)
            .where(columns.sent_at.is_(None))
            .order_by(columns.id)
            .limit(bindparam("batch", type_=Integer))
            .scalar_subquery()
        )
        self.claim = DriverStatement(
            update(table)
            .where(columns.id.in_(claimable))
            .values(lease_owner=bindparam("owner"), lease_until=bindparam("until", type_=UtcDateTime()))
            .returning(*message_columns)
        )
        attempted = {"lease_owner": None, "lease_until": None, "attempts": columns.attempts + 1}
        self.sent = DriverStatement(
            update(table).where(row).values(sent_at=bindparam("now", type_=UtcDateTime()), **attempted)
        )
        self.erase = DriverStatement(update(table).where(row).values(payload="{}"))
        self.unsent_again = DriverStatement(
            update(table).where(row).values(last_error=bindparam("error", type_=Text), **attempted)
        )


def _message(row: Sequence[Any]) -> OutboxMessage:
    id_, event_id, subject, payload, trace_headers, headers = row
    return OutboxMessage(
        id=int(id_),
        event_id=str(event_id),
        subject=str(subject),
        payload=str(payload).encode(),
        trace_headers=json.loads(trace_headers or "{}"),
        headers=json.loads(headers or "{}"),
    )
