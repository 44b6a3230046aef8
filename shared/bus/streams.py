"""Every JetStream stream and durable consumer is declared here, and only here.

Subscribers bind with ``declare=False``: FastStream would otherwise merge stream subjects and let the
last service to start win every other setting. Consumers are created or updated before anyone binds,
because an existing durable is otherwise bound as it is and changes to ``max_deliver`` or
``ack_wait`` in code would be silently ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from shared.settings import RetentionSettings

DUPLICATE_WINDOW_SECONDS = 120.0
DEAD_LETTER_PREFIX = "dlq"
MAX_DELIVERIES_PREFIX = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
ADVISORY_DAYS = 7


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    allow_msg_schedules: bool = False
    max_msgs_per_subject: int = -1
    # 0 keeps messages for ever. A stream named in ``RetentionSettings`` takes its age from there.
    max_age_seconds: float = 0.0

    def config(self, replicas: int, *, max_age_seconds: float | None = None) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msgs_per_subject=self.max_msgs_per_subject,
            max_age=self.max_age_seconds if max_age_seconds is None else max_age_seconds,
            allow_msg_schedules=self.allow_msg_schedules or None,
        )


DOSSIER = StreamSpec("DOSSIER", ("dossier.>",))
CATALOG = StreamSpec("CATALOG", ("catalog.>",))
ALERT = StreamSpec("ALERT", ("alert.>",))
DIRECTORY = StreamSpec("DIRECTORY", ("directory.>",))
# Citizens' one-time codes: kept no longer than a code lives, since each message carries one. Not a
# setting: a longer keep would only keep codes.
CITIZEN = StreamSpec("CITIZEN", ("citizen.>",), max_age_seconds=600.0)
# SLA timers: one schedule subject per dossier-step-kind, so arming again replaces the old timer.
# Kept for ever: a schedule must outlive its delay, and one per subject bounds the stream anyway.
SLA = StreamSpec("SLA", ("sla.>",), allow_msg_schedules=True, max_msgs_per_subject=1)
DEAD_LETTER = StreamSpec("DLQ", (f"{DEAD_LETTER_PREFIX}.>",))
# JetStream's advisories that a message reached max_deliver unacknowledged. The server says it once,
# at that moment; kept here, it still reaches a service whose replicas were all down then.
MAX_DELIVERIES = StreamSpec(
    "MAX_DELIVERIES", (f"{MAX_DELIVERIES_PREFIX}.>",), max_age_seconds=ADVISORY_DAYS * 24 * 3600.0
)


@dataclass(frozen=True)
class BucketSpec:
    """A JetStream Object Store bucket: files that one service hands to another (nats-py's
    ``create_object_store`` makes the same stream). Declared here like the streams, so that its
    keep follows a setting and no service creates it with its own idea of one."""

    bucket: str

    @property
    def name(self) -> str:
        return f"OBJ_{self.bucket}"

    def config(self, replicas: int, *, max_age_seconds: float | None = None) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=[f"$O.{self.bucket}.C.>", f"$O.{self.bucket}.M.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msgs_per_subject=-1,
            max_age=max_age_seconds or 0.0,
            allow_rollup_hdrs=True,
            allow_direct=True,
        )


# Electronic results (kết quả điện tử) that processing attaches at approval, named by dossier code,
# for intake's portal to hand to the citizen.
RESULTS = BucketSpec("results")
# The citizens' uploads that intake stores, named ``{dossier code}/{sha256}``, for processing's staff.
DOCUMENTS = BucketSpec("documents")
BUCKETS: tuple[BucketSpec, ...] = (RESULTS, DOCUMENTS)

STREAMS: tuple[StreamSpec, ...] = (
    DOSSIER,
    CATALOG,
    DIRECTORY,
    CITIZEN,
    ALERT,
    SLA,
    DEAD_LETTER,
    MAX_DELIVERIES,
)
# What ``ensure_streams`` declares: the streams, and the buckets' own streams.
DECLARED: tuple[StreamSpec | BucketSpec, ...] = (*STREAMS, *BUCKETS)


def max_age_seconds(spec: StreamSpec | BucketSpec, retention: RetentionSettings) -> float:
    """How long ``spec`` keeps a message: its retention setting, or its own fixed age."""
    if isinstance(spec, BucketSpec):
        # The files are personal data of the dossiers' records, kept as the dossier events are.
        return retention.dossier_stream_days * 24 * 3600.0
    days = {
        DOSSIER.name: retention.dossier_stream_days,
        CATALOG.name: retention.catalog_stream_days,
        DIRECTORY.name: retention.directory_stream_days,
        ALERT.name: retention.alert_stream_days,
        DEAD_LETTER.name: retention.dead_letter_stream_days,
    }.get(spec.name)
    return spec.max_age_seconds if days is None else days * 24 * 3600.0


def stream_for(subject: str) -> StreamSpec:
    """The stream that stores ``subject``."""
    prefix = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(pattern.split(".", 1)[0] == prefix for pattern in spec.subjects):
            return spec
    raise LookupError(f"no stream stores subject {subject!r}")


def durable_name(service: str, subject: str) -> str:
    """The durable of ``service`` for ``subject`` alone, say ``notify__dossier_accepted``."""
    return f"{service}__{subject.replace('.', '_').replace('>', 'all').replace('*', 'any')}"


def max_deliveries_durable(durable: str) -> str:
    """The twin on ``MAX_DELIVERIES`` of the durable ``durable`` (``ConsumerSpec``)."""
    return f"{durable}__max_deliveries"


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer, shared by the service's replicas: one per (service, subject), or
    one per (service, group) for a group's several subjects of one stream."""

    service: str
    subject: str
    max_deliver: int
    ack_wait_seconds: float
    # The longest a handler may run, reporting progress, before it is cancelled as hung.
    handler_timeout_seconds: float
    # Messages handled at once by one replica; above 1 only where order between messages does not
    # matter to the handler.
    concurrency: int = 1
    # A group's name and every subject it takes (``subject`` is the first): one durable, named
    # after the group, whose fetches bring the events of all of them together.
    group: str | None = None
    subjects: tuple[str, ...] = ()
    # The durables of one subject each that the group's took over from (``ensure_consumer``).
    replaces: tuple[str, ...] = ()
    stream: StreamSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", stream_for(self.subject))
        streams = {stream_for(subject).name for subject in self.subjects}
        if streams - {self.stream.name}:
            raise ValueError(f"a group's subjects are of one stream, not {sorted(streams)}")

    @property
    def durable(self) -> str:
        return f"{self.service}__{self.group}" if self.group else durable_name(self.service, self.subject)

    def config(self, *, start_sequence: int | None = None) -> ConsumerConfig:
        """The consumer's configuration; a new one with ``start_sequence`` delivers from there."""
        config = self._config(self.durable, self.subject)
        if self.group:
            config.filter_subject = None
            config.filter_subjects = list(self.subjects)
        if start_sequence is not None:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start_sequence
        return config

    @property
    def max_deliveries_subject(self) -> str:
        """Where JetStream says that a message reached ``max_deliver`` on this consumer."""
        return f"{MAX_DELIVERIES_PREFIX}.{self.stream.name}.{self.durable}"

    @property
    def max_deliveries_durable(self) -> str:
        return max_deliveries_durable(self.durable)

    def max_deliveries_config(self) -> ConsumerConfig:
        """The durable on ``MAX_DELIVERIES`` through which the service hears of this consumer's
        exhausted messages, shared by its replicas like the consumer itself."""
        return self._config(self.max_deliveries_durable, self.max_deliveries_subject)

    def _config(self, durable: str, subject: str) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=1000,
        )


async def ensure_streams(
    js: JetStreamContext, *, replicas: int = 1, retention: RetentionSettings | None = None
) -> None:
    """Create every stream and Object Store bucket, or bring an existing one up to its declared
    configuration (a changed retention setting included). A stream already as declared is left
    alone: on a cluster every
    change is a proposal its replicas must write, and replicas starting together would otherwise
    each propose every stream again."""
    retention = retention or RetentionSettings()
    for spec in DECLARED:
        config = spec.config(replicas, max_age_seconds=max_age_seconds(spec, retention))
        try:
            current = (await js.stream_info(spec.name)).config
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:
                # Another service created it between our two calls.
                current = (await js.stream_info(spec.name)).config
            except NatsTimeoutError:
                # The request outlived its wait (a busy cluster, slow disks), not the creation.
                current = await _once_created(js, spec.name)
        if _declared(current) != _declared(config):
            await js.update_stream(config)


def _declared(config: StreamConfig) -> tuple[object, ...]:
    """What ``StreamSpec.config`` sets, as the server reports it back."""
    return (
        sorted(config.subjects or []),
        config.retention,
        config.storage,
        config.discard,
        config.num_replicas,
        config.duplicate_window,
        config.max_msgs_per_subject,
        config.max_age,
        bool(config.allow_msg_schedules),
        # The server turns roll-ups on by itself for a stream of scheduled messages.
        bool(config.allow_rollup_hdrs or config.allow_msg_schedules),
        bool(config.allow_direct),
    )


async def _once_created(js: JetStreamContext, name: str, *, wait_seconds: float = 30.0) -> StreamConfig:
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        try:
            return (await js.stream_info(name)).config
        except (NotFoundError, NatsTimeoutError):
            if asyncio.get_running_loop().time() >= deadline:
                raise
        await asyncio.sleep(0.5)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable consumer and its max-deliveries listener, or update them in place to the
    declared limits.

    A group's durable is new where the durables it replaces (one per subject) ran: it then starts
    where the one furthest behind stopped, so that nothing they had not acknowledged is lost, and
    they are deleted. What it hands out again that one of them had handled, the inbox skips: the
    group's handlers keep the replaced durables' names there."""
    try:
        current = await js.consumer_info(spec.stream.name, spec.durable)
    except NotFoundError:
        config = spec.config(start_sequence=await _where_replaced_stopped(js, spec))
    else:
        # Where a consumer starts is fixed once it is made.
        config = spec.config(start_sequence=current.config.opt_start_seq)
        config.deliver_policy = current.config.deliver_policy
    await js.add_consumer(spec.stream.name, config)
    await js.add_consumer(MAX_DELIVERIES.name, spec.max_deliveries_config())
    # At every start, not only the first: a replica of the older version, still running in a rolling
    # upgrade, makes its durables again if it restarts.
    for durable in spec.replaces:
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(spec.stream.name, durable)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(MAX_DELIVERIES.name, max_deliveries_durable(durable))


async def _where_replaced_stopped(js: JetStreamContext, spec: ConsumerSpec) -> int | None:
    """The first stream sequence that one of the durables ``spec`` replaces may not have seen
    handled; ``None`` when none of them is there (the group starts with the stream, as they did)."""
    # Read first: a replaced durable with nothing pending after this has handled all up to here.
    last = (await js.stream_info(spec.stream.name)).state.last_seq
    floors = []
    for durable in spec.replaces:
        try:
            info = await js.consumer_info(spec.stream.name, durable)
        except NotFoundError:
            continue
        floor = info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else 0
        if not info.num_pending and not info.num_ack_pending:
            floor = max(floor, last)
        floors.append(floor)
    return min(floors) + 1 if floors else None


async def last_headers_by_subject(
    js: JetStreamContext,
    stream: str,
    subjects: str,
    *,
    each: Callable[[str, Mapping[str, str]], None],
    stall_seconds: float = 5.0,
) -> None:
    """Hand ``each`` the subject and headers of the last message on every subject of ``stream`` that
    ``subjects`` matches, as they arrive: one ordered pass, headers only, so no payload travels,
    and the caller keeps of each only what it needs. Raises ``TimeoutError`` when the pass stalls
    for ``stall_seconds`` before it reached the end.

    The messages are taken in the subscription's callback rather than awaited one by one: the
    client's ``next_msg`` starts a task and a timer for every message, which over a stream of
    800,000 timers cost more than everything else the pass does."""
    received = 0
    expected = 0
    finished = asyncio.Event()
    failure: list[BaseException] = []

    async def take(message: Msg) -> None:
        nonlocal received
        if finished.is_set():
            return
        received += 1
        try:
            each(message.subject, message.headers or {})
            # Pending reaches 0 only once the messages pending at the start have all come; reading
            # it costs a parse of the reply subject, so it is read from then on only.
            if received >= expected and message.metadata.num_pending == 0:
                finished.set()
        except Exception as exc:
            failure.append(exc)
            finished.set()

    subscription = await js.subscribe(
        subjects,
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        headers_only=True,
        cb=take,
    )
    try:
        info = await subscription.consumer_info()
        if info.num_pending == 0 and not (info.delivered and info.delivered.stream_seq):
            return
        expected = info.num_pending or 0
        seen = -1
        while not finished.is_set():
            if received == seen:
                raise TimeoutError(f"reading the last messages of {subjects} stalled")
            seen = received
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), stall_seconds)
        if failure:
            raise failure[0]
    finally:
        await subscription.unsubscribe()
