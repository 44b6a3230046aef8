"""Every JetStream stream and durable consumer is declared here, and only here.

Subscribers bind with ``declare=False``: FastStream would otherwise merge stream subjects and let the
last service to start win every other setting. Consumers are created or updated before anyone binds,
because an existing durable is otherwise bound as it is and changes to ``max_deliver`` or
``ack_wait`` in code would be silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

DUPLICATE_WINDOW_SECONDS = 120.0
DEAD_LETTER_PREFIX = "dlq"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    allow_msg_schedules: bool = False
    max_msgs_per_subject: int = -1

    def config(self, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msgs_per_subject=self.max_msgs_per_subject,
            allow_msg_schedules=self.allow_msg_schedules or None,
        )


DOSSIER = StreamSpec("DOSSIER", ("dossier.>",))
CATALOG = StreamSpec("CATALOG", ("catalog.>",))
ALERT = StreamSpec("ALERT", ("alert.>",))
DIRECTORY = StreamSpec("DIRECTORY", ("directory.>",))
# SLA timers: one schedule subject per dossier-step-kind, so arming again replaces the old timer.
SLA = StreamSpec("SLA", ("sla.>",), allow_msg_schedules=True, max_msgs_per_subject=1)
DEAD_LETTER = StreamSpec("DLQ", (f"{DEAD_LETTER_PREFIX}.>",))

STREAMS: tuple[StreamSpec, ...] = (DOSSIER, CATALOG, DIRECTORY, ALERT, SLA, DEAD_LETTER)


def stream_for(subject: str) -> StreamSpec:
    """The stream that stores ``subject``."""
    prefix = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(pattern.split(".", 1)[0] == prefix for pattern in spec.subjects):
            return spec
    raise LookupError(f"no stream stores subject {subject!r}")


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: one per (service, subject), shared by the service's replicas."""

    service: str
    subject: str
    max_deliver: int
    ack_wait_seconds: float
    # Messages handled at once by one replica; above 1 only where order between messages does not
    # matter to the handler.
    concurrency: int = 1
    stream: StreamSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", stream_for(self.subject))

    @property
    def durable(self) -> str:
        return f"{self.service}__{self.subject.replace('.', '_').replace('>', 'all').replace('*', 'any')}"

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=1000,
        )


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create every stream, or bring an existing one up to its declared configuration."""
    for spec in STREAMS:
        config = spec.config(replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:
                # Another service created it between our two calls.
                pass
        await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable consumer, or update it in place to the declared limits."""
    await js.add_consumer(spec.stream.name, spec.config())


async def last_headers_by_subject(
    js: JetStreamContext, stream: str, subjects: str, *, stall_seconds: float = 5.0
) -> dict[str, dict[str, str]]:
    """The headers of the last message on every subject of ``stream`` that ``subjects`` matches: one
    ordered pass, headers only, so no payload travels. Raises ``TimeoutError`` when the pass stalls
    for ``stall_seconds`` before it reached the end."""
    found: dict[str, dict[str, str]] = {}
    subscription = await js.subscribe(
        subjects,
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        headers_only=True,
    )
    try:
        info = await subscription.consumer_info()
        if info.num_pending == 0 and not (info.delivered and info.delivered.stream_seq):
            return found
        while True:
            try:
                message = await subscription.next_msg(timeout=stall_seconds)
            except NatsTimeoutError as exc:
                raise TimeoutError(f"reading the last messages of {subjects} stalled") from exc
            found[message.subject] = dict(message.headers or {})
            if message.metadata.num_pending == 0:
                return found
    finally:
        await subscription.unsubscribe()
