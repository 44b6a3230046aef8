"""What every service is made of, wired in one fixed order:
settings → telemetry → database → broker with middlewares → subscribers → HTTP app.

A service hands over its tables, its event handlers and its routers; the runtime owns the start-up
and shut-down order, the outbox relay and readiness, and ``shared.service_app`` builds the HTTP app
around it (health, metrics, the refusals).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

from fastapi import FastAPI
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import MetaData
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.bus.broker import create_broker
from shared.bus.consumer import EventConsumer, Received, consuming
from shared.bus.in_process import Deliver
from shared.bus.inbox import Inbox, inbox_table
from shared.bus.outbox import Acknowledgement, FollowUp, Outbox, OutboxMessage, OutboxRelay, outbox_table
from shared.bus.permissions import ACCESS
from shared.bus.retention import Pruner, RetentionSweep
from shared.bus.streams import ConsumerSpec, durable_name, ensure_consumer, ensure_streams, stream_for
from shared.db import Database
from shared.events import PURGE_HEADER, Event, parse_event
from shared.migrations import MigrationHistory, prepare_database
from shared.personal_data import install_log_masking
from shared.settings import (
    DATABASE_SETTINGS,
    CommonSettings,
    DatabaseSettings,
    HttpSettings,
    MigrationSettings,
    NatsSettings,
    OutboxSettings,
    RetentionSettings,
    ServiceName,
)
from shared.telemetry import create_tracer_provider, current_dossier
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
# A handler names what it needs: ``session`` (the transaction it runs in, with the inbox row),
# ``event``, ``outbox``, ``runtime``, or anything given to ``ServiceRuntime.provide``.
EventHandler = Callable[..., Awaitable[object]]
# What a consumer may wrap around the handling of one transaction's events (a batch, or one event
# alone): it gets the session and those events, in the order they will be handled, before the
# first, and may write what they have in common once the last is handled.
BatchScope = Callable[[AsyncSession, Sequence[Event]], AbstractAsyncContextManager[object]]


@asynccontextmanager
async def _no_scope(_session: AsyncSession, _events: Sequence[Event]) -> AsyncIterator[None]:
    yield


StartHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Handling:
    """One handler of one event type, as a consumer (a group's too) calls it."""

    event_type: type[Event]
    subject: str
    # Its name in the inbox.
    name: str
    call: Callable[[AsyncSession, Event], Awaitable[None]]
    scope: BatchScope


def _handling_of(handlings: Sequence[_Handling], event: Event) -> _Handling:
    for handling in handlings:
        if isinstance(event, handling.event_type):
            return handling
    raise TypeError(f"no handler here for {event.type}")


@dataclass
class RuntimeSettings:
    """Everything a service reads from the environment, overridable in tests."""

    common: CommonSettings = field(default_factory=CommonSettings)
    nats: NatsSettings = field(default_factory=NatsSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    migrations: MigrationSettings = field(default_factory=MigrationSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    database: DatabaseSettings | None = None


class ServiceRuntime:
    def __init__(
        self,
        service: ServiceName,
        metadata: MetaData,
        settings: RuntimeSettings | None = None,
        *,
        migrations: MigrationHistory,
        span_processors: tuple[SpanProcessor, ...] = (),
    ) -> None:
        self.service = service
        self.migrations = migrations
        self.settings = settings or RuntimeSettings()
        database = self.settings.database or DATABASE_SETTINGS[service]()
        if database.database_url is None:
            self.settings.common.ensure_data_dir()
        # Every log record is masked of personal data as it is made, whichever handler it reaches.
        install_log_masking()
        self.tracer_provider = create_tracer_provider(service, extra_processors=span_processors)
        self.tracer = self.tracer_provider.get_tracer("motcua.bus")
        self.db = Database(
            database.url(self.settings.common),
            schema=database.database_schema,
            pool_size=database.database_pool_size,
            max_overflow=database.database_max_overflow,
            flow_pool_size=database.database_flow_pool_size,
        )
        self.metadata = metadata
        self.outbox = Outbox(outbox_table(metadata))
        self.inbox = Inbox(inbox_table(metadata))
        self.registry = CollectorRegistry()
        self.broker: NatsBroker = create_broker(
            self.settings.nats,
            service=service,
            tracer_provider=self.tracer_provider,
            registry=self.registry,
            credentials=self.settings.nats.credentials(service, self.settings.common),
        )
        self.relay = OutboxRelay(self.db, self.outbox, self._publish, self.settings.outbox)
        self.pruner = Pruner(
            self.db, outbox=self.outbox.table, inbox=self.inbox.table, settings=self.settings.retention
        )
        self.consumers: list[ConsumerSpec] = []
        self._event_consumers: list[EventConsumer] = []
        self._entry_points: dict[str, list[Callable[[Event], Awaitable[None]]]] = {}
        self._batch_entry_points: dict[str, list[Callable[[Sequence[Received]], Awaitable[None]]]] = {}
        self._groups: dict[str, list[_Handling]] = {}
        self._group_specs: dict[str, ConsumerSpec] = {}
        access = ACCESS.get(service)
        self._replaceable = frozenset(access.replaced if access is not None else ())
        self._start_hooks: list[StartHook] = []
        self._dependencies: dict[str, object] = {"outbox": self.outbox, "runtime": self}
        self._workers: list[BackgroundWorker] = []
        self._bus_task: asyncio.Task[None] | None = None
        self._in_process: Deliver | None = None
        self.outbox_pending = Gauge(
            "motcua_outbox_pending", "Outbox events not yet published", registry=self.registry
        )

    # -- wiring -----------------------------------------------------------------------------
    def on_start(self, hook: StartHook) -> None:
        """Run ``hook`` once the database is migrated and before the bus starts (seeding, caches)."""
        self._start_hooks.append(hook)

    def on_retention(self, sweep: RetentionSweep, *, name: str) -> None:
        """Run ``sweep`` in every retention pass (hourly by default), after the outbox and inbox rows
        past their keep are deleted: for what else of the service's own piles up."""
        self.pruner.add_sweep(sweep, name=name)

    def add_worker(self, worker: BackgroundWorker) -> None:
        """Run ``worker`` while the service runs: started after the relay, stopped before it. A
        worker that needs the bus checks ``bus_up`` in its pass."""
        self._workers.append(worker)

    @property
    def bus_up(self) -> bool:
        """The streams and consumers are declared and the broker is connected now."""
        task = self._bus_task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return False
        connection = self.broker.config.connection_state.connection if self.broker.running else None
        return connection is not None and connection.is_connected

    def use_in_process_bus(self, publish: Deliver) -> None:
        """Publish through ``publish`` instead of NATS, and never connect to NATS (see
        ``shared.bus.in_process``); before ``start``."""
        self._in_process = publish

    def provide(self, **dependencies: object) -> None:
        """Make ``dependencies`` available to the handlers registered after this, by name."""
        self._dependencies.update(dependencies)

    def _injected(self, handler: EventHandler) -> Callable[[AsyncSession, Event], Awaitable[None]]:
        """``handler`` called with what its parameters name, as a bootstrap wires a message bus."""
        names = list(inspect.signature(handler).parameters)
        unknown = set(names) - {"session", "event"} - set(self._dependencies)
        if unknown:
            raise TypeError(f"{handler!r} asks for {sorted(unknown)}, which this service does not provide")
        fixed = {name: self._dependencies[name] for name in names if name in self._dependencies}

        async def call(session: AsyncSession, event: Event) -> None:
            per_delivery = {"session": session, "event": event}
            await handler(**fixed, **{name: per_delivery[name] for name in names if name in per_delivery})

        return call

    def handle(
        self,
        event_type: type[E],
        handler: EventHandler,
        *,
        subject: str | None = None,
        concurrency: int = 1,
        scope: BatchScope = _no_scope,
        group: str | None = None,
    ) -> ConsumerSpec:
        """Consume ``event_type`` through this service's durable consumer for its subject (by default
        the event's type), ``concurrency`` messages at a time; or, with ``group``, through the
        group's one durable, whose batches bring the events of all its subjects together.

        The handler runs in one transaction with the inbox row, so a redelivery changes nothing.
        Its dependencies are injected by parameter name (see ``EventHandler``); ``scope`` wraps the
        handling of each transaction's events (see ``BatchScope``), the same for a whole group.
        """
        subject = subject or event_type.model_fields["type"].default
        handling = _Handling(
            event_type=event_type,
            subject=subject,
            # The inbox's name for the handler, a group's too: the durable of its subject alone.
            name=durable_name(self.service, subject),
            call=self._injected(handler),
            scope=scope,
        )
        if group is None:
            spec = self._spec(subject, concurrency=concurrency)
            self._consume(spec, [handling])
        else:
            members = self._groups.setdefault(group, [])
            known = self._group_specs.get(group)
            if members and (members[0].scope != scope or known is None or known.concurrency != concurrency):
                raise ValueError(f"the handlers of group {group} share one scope and one concurrency")
            members.append(handling)
            subjects = tuple(dict.fromkeys(member.subject for member in members))
            spec = self._spec(
                subjects[0],
                concurrency=concurrency,
                group=group,
                subjects=subjects,
                # The durables that ran before for its members' subjects, one each (``BusAccess``).
                replaces=tuple(member.name for member in members if member.name in self._replaceable),
            )
            # The group's consumer, made again with each member it gains.
            self._consume(spec, members, replacing=known)
            self._group_specs[group] = spec
        self._entry_points.setdefault(event_type.model_fields["type"].default, []).append(
            partial(self._run_alone, [handling])
        )
        self._batch_entry_points.setdefault(event_type.model_fields["type"].default, []).append(
            partial(self._run_batch, [handling], spec.durable)
        )
        return spec

    def _spec(self, subject: str, **fields: Any) -> ConsumerSpec:
        """The durable for ``subject`` with this service's delivery settings, and ``fields`` (its
        concurrency, a group's subjects)."""
        return ConsumerSpec(
            service=self.service,
            subject=subject,
            max_deliver=self.settings.nats.max_deliver,
            ack_wait_seconds=self.settings.nats.ack_wait_seconds,
            handler_timeout_seconds=self.settings.nats.handler_timeout_seconds,
            **fields,
        )

    def _consume(
        self, spec: ConsumerSpec, handlings: list[_Handling], *, replacing: ConsumerSpec | None = None
    ) -> None:
        consumer = EventConsumer(
            self.broker,
            spec,
            handle_one=partial(self._run_alone, handlings),
            handle_batch=partial(self._run_batch, handlings, spec.durable),
            retry_delays=self.settings.nats.retry_delays_seconds,
            tracer=self.tracer,
        )
        if replacing is not None:
            index = self.consumers.index(replacing)
            self.consumers[index] = spec
            self._event_consumers[index] = consumer
        else:
            self.consumers.append(spec)
            self._event_consumers.append(consumer)

    async def _run_alone(self, handlings: Sequence[_Handling], event: Event) -> None:
        """``event`` in a transaction of its own, with its inbox row."""
        handling = _handling_of(handlings, event)
        token = current_dossier.set(event.dossier_code or "-")
        try:
            async with self.db.flow_session() as session:
                first = await self.inbox.first_delivery(
                    session, consumer=handling.name, event_id=event.event_id
                )
                if not first:
                    logger.info("%s skips %s %s: already handled", handling.name, event.type, event.event_id)
                    return
                async with handling.scope(session, [event]):
                    await handling.call(session, event)
        finally:
            current_dossier.reset(token)

    async def _run_batch(
        self, handlings: Sequence[_Handling], durable: str, batch: Sequence[Received]
    ) -> None:
        """The batch in one transaction, each event recorded in the inbox as ``_run_alone`` records
        one; any failure rolls all of it back (the consumer then goes one at a time)."""
        handled = [(item, _handling_of(handlings, item.event)) for item in batch]
        async with self.db.flow_session() as session:
            fresh = await self.inbox.first_deliveries(
                session, [(handling.name, item.event.event_id) for item, handling in handled]
            )
            # Dossier by dossier, each one's events in their order: batches of every consumer
            # then lock dossiers in one order, so that two of them never deadlock.
            todo: list[tuple[Received, _Handling]] = []
            for item, handling in sorted(handled, key=lambda pair: pair[0].event.dossier_code or ""):
                event = item.event
                if (handling.name, event.event_id) not in fresh:
                    logger.info("%s skips %s %s: already handled", durable, event.type, event.event_id)
                    continue
                fresh.discard((handling.name, event.event_id))
                todo.append((item, handling))
            async with handlings[0].scope(session, [item.event for item, _ in todo]):
                for item, handling in todo:
                    token = current_dossier.set(item.event.dossier_code or "-")
                    try:
                        with consuming(self.tracer, item.message):
                            await handling.call(session, item.event)
                    finally:
                        current_dossier.reset(token)

    async def deliver(self, event: Event) -> None:
        """Hand ``event`` to this service's consumers of its type as a delivery from the bus would
        (read back from its JSON, through the inbox), without NATS: for service-tier tests."""
        received = parse_event(event.model_dump_json())
        for run in self._entry_points.get(received.type, []):
            await run(received)

    async def deliver_batch(self, events: Sequence[Event]) -> None:
        """Hand ``events``, all of one type, to this service's consumers of it as one fetched batch
        (read back from their JSON, through the inbox), without NATS: for service-tier tests."""
        received = [parse_event(event.model_dump_json()) for event in events]
        if not received:
            return
        batch = [
            Received(Msg(cast(NATS, None), subject=event.subject, data=b"", headers={}), event)
            for event in received
        ]
        for run_batch in self._batch_entry_points.get(received[0].type, []):
            await run_batch(batch)

    async def _publish(self, message: OutboxMessage) -> Acknowledgement | None:
        """Write ``message`` to NATS; returns what waits for its acknowledgement (see ``Publish``)."""
        if self._in_process is not None:
            # Resume the trace of the request that wrote the row, as the consumers would.
            token = otel_context.attach(propagate.extract(message.trace_headers))
            try:
                await self._in_process(message)
            finally:
                otel_context.detach(token)
            return None
        js = self.broker.config.connection_state.stream
        # The trace of the request that wrote the row goes on in the consumers.
        headers = {
            **message.trace_headers,
            **message.headers,
            "Nats-Msg-Id": message.event_id,
            "content-type": "application/json",
        }
        purge = message.headers.get(PURGE_HEADER)
        stream = stream_for(message.subject).name
        future = await js.publish_async(message.subject, message.payload, stream=stream, headers=headers)
        timeout = self.settings.outbox.publish_timeout_seconds
        if purge is None:
            return _acknowledged(future, timeout)
        return _purge_after(js, future, timeout, stream=stream, filters=purge.split())

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Migrate the database (or, with migrations run by hand, refuse to start on one that is
        behind), then open the bus. Without NATS the service still starts and serves after a short
        wait: the outbox keeps what it must publish, and the bus comes up in the background once
        NATS does (the NATS client retries the connection by itself)."""
        await prepare_database(self.db, self.migrations, mode=self.settings.migrations.mode)
        for hook in self._start_hooks:
            await hook()
        self.relay.start()
        self.pruner.start()
        for worker in self._workers:
            worker.start()
        if self._in_process is not None:
            logger.info("%s started on an in-process bus", self.service)
            return
        self._bus_task = asyncio.create_task(self._start_bus(), name="bus-start")
        done, _ = await asyncio.wait({self._bus_task}, timeout=self.settings.nats.start_wait_seconds)
        if not done:
            logger.warning("%s: NATS is unreachable; serving, and connecting in the background", self.service)
        logger.info("%s started", self.service)

    async def _start_bus(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.connect()
                js = self.broker.config.connection_state.stream
                await ensure_streams(
                    js, replicas=self.settings.nats.stream_replicas, retention=self.settings.retention
                )
                # Each is a round trip or two of its own; none waits for another.
                await asyncio.gather(*(ensure_consumer(js, spec) for spec in self.consumers))
                await self.broker.start()
                for consumer in self._event_consumers:
                    await consumer.start(self.broker.config.connection_state.connection)
            except Exception as exc:
                logger.warning("%s: bus not up yet (%r); retrying in %.1fs", self.service, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                self.relay.wake()
                for worker in self._workers:
                    worker.wake()
                logger.info("%s: bus up", self.service)
                return

    async def stop(self) -> None:
        if self._bus_task is not None and not self._bus_task.done():
            self._bus_task.cancel()
            await asyncio.wait({self._bus_task}, timeout=5)
        for worker in self._workers:
            await worker.stop()
        await self.pruner.stop()
        await self.relay.stop()
        for consumer in self._event_consumers:
            await consumer.stop()
        await self.broker.stop()
        await self.db.dispose()
        self.tracer_provider.shutdown()

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {exc.__class__.__name__}"
        connection = self.broker.config.connection_state.connection if self.broker.running else None
        checks["nats"] = "ok" if connection is not None and connection.is_connected else "unavailable"
        return checks


async def _acknowledged(future: Awaitable[PubAck], seconds: float) -> FollowUp | None:
    await asyncio.wait_for(future, seconds)
    return None


async def _purge_after(
    js: JetStreamContext, future: Awaitable[PubAck], seconds: float, *, stream: str, filters: list[str]
) -> FollowUp:
    """Once the purge's marker is acknowledged, the purge of what ``filters`` match below the
    marker's sequence. Published again, the marker is a duplicate whose acknowledgement carries the
    first copy's sequence, so the purge still stops where it first did: what was armed after it
    stays."""
    ack = await asyncio.wait_for(future, seconds)

    async def purge() -> None:
        await asyncio.gather(
            *(js.purge_stream(stream, subject=subjects, seq=ack.seq) for subjects in filters)
        )

    return purge
