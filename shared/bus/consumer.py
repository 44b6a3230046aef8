"""Durable pull consumers that apply what is waiting in batches, with a retry policy and a
dead-letter subject.

Each consumer's loop (``EventConsumer``) fetches what JetStream has for it and applies it in one
transaction; a batch that fails is taken one message at a time. A failed message is nacked with a
growing delay, never redelivered in a hot loop; once ``max_deliver`` is reached it goes to
``dlq.<service>.<consumer>`` in the DLQ stream, where ``motcua dlq`` finds it.

While a handler runs, the wrapper tells JetStream every ``ack_wait / 3`` that it is still at work,
so that a long handler is not handed to another replica meanwhile. A handler that runs past
``handler_timeout`` is cancelled and counts as a failure: a hung handler cannot hold its message
for ever.

A message can still reach ``max_deliver`` with no handler ever failing: the process died (or its
event loop stood still) each time it held the message, and JetStream handed it out again after
``ack_wait``. No code of ours runs at the end then; JetStream says so instead, once, in a
max-deliveries advisory, which the ``MAX_DELIVERIES`` stream keeps. Each consumer has a durable
twin there, shared by the service's replicas like the consumer itself, so one replica takes each
advisory, even one that started after it was said: it fetches the message by its stream sequence
and dead-letters it with the same headers. The twin is fetched by a loop of ``EventConsumer``'s
own, started and stopped with the consumer's. Both ways give the dead letter the same
``Nats-Msg-Id`` (stream, consumer, sequence), so a message that takes both is stored once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial

from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Tracer
from pydantic import BaseModel, ValidationError

from shared.bus.permissions import inbox_prefix
from shared.bus.pulling import Puller
from shared.bus.streams import DEAD_LETTER, DEAD_LETTER_PREFIX, MAX_DELIVERIES, ConsumerSpec
from shared.events import Event, parse_event
from shared.personal_data import mask_personal_data

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]
BatchHandler = Callable[[Sequence["Received"]], Awaitable[None]]

# Messages one fetch may bring; a fetch returns with what is there once one message is. Measured
# with bench/lifecycle.py on both databases, 10 beat 5 and 50: a long batch holds its locks (and
# SQLite's one writer) for longer, and the last event of it waits for all the others.
BATCH_SIZE = 10
# How long an idle fetch waits on the server before asking again.
FETCH_WAIT_SECONDS = 5.0

DEAD_SUBJECT = "Motcua-Dead-Subject"
DEAD_CONSUMER = "Motcua-Dead-Consumer"
DEAD_ERROR = "Motcua-Dead-Error"
DEAD_DELIVERIES = "Motcua-Dead-Deliveries"
# Never copied into a dead letter: the id is the dead letter's own, the trace is the failed one's.
NOT_COPIED = frozenset({"Nats-Msg-Id", "traceparent", "tracestate"})


class PermanentError(Exception):
    """An event that can never be handled: it goes to the dead-letter subject at once."""


def retry_delay(delays: Sequence[float], deliveries: int) -> float:
    return delays[min(deliveries, len(delays)) - 1]


class HandlerTimedOut(Exception):
    """A handler ran past its consumer's ``handler_timeout`` and was cancelled."""


class MaxDeliveriesAdvisory(BaseModel):
    """What JetStream says when a message has been delivered ``max_deliver`` times, unacknowledged."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


def dead_letter_subject(spec: ConsumerSpec) -> str:
    """``dlq.<service>.<consumer>``: the service token lets each service's NATS user publish dead
    letters under its own name only, and tells a replay who wrote the letter."""
    return f"{DEAD_LETTER_PREFIX}.{spec.service}.{spec.durable}"


def dead_letter_id(spec: ConsumerSpec, sequence: int) -> str:
    """The dead letter's ``Nats-Msg-Id``: the same whichever way the message got there."""
    return f"{spec.stream.name}-{spec.durable}-{sequence}"


def dead_letter_headers(
    headers: Mapping[str, object],
    *,
    spec: ConsumerSpec,
    subject: str,
    sequence: int,
    error: str,
    deliveries: int,
) -> dict[str, str]:
    """The failed message's own headers plus where it came from and why it failed, as ``motcua
    dlq list`` reads them and ``motcua dlq replay`` strips them."""
    kept = {key: value for key, value in headers.items() if isinstance(value, str) and key not in NOT_COPIED}
    return {
        **kept,
        "Nats-Msg-Id": dead_letter_id(spec, sequence),
        DEAD_SUBJECT: subject,
        DEAD_CONSUMER: spec.durable,
        # SQL errors quote their bound parameters, which may be an applicant's CCCD or phone.
        DEAD_ERROR: mask_personal_data(error)[:500],
        DEAD_DELIVERIES: str(deliveries),
    }


@asynccontextmanager
async def reporting_progress(messages: Sequence[Msg], *, every: float) -> AsyncIterator[None]:
    """Tell JetStream every ``every`` seconds that ``messages`` are still being handled."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.gather(*(message.in_progress() for message in messages))
            except Exception as exc:
                # A lost connection: the next beat may get through, and at worst the message is
                # redelivered, which the inbox makes harmless.
                logger.warning("progress report failed: %r", exc)

    heartbeat = asyncio.create_task(beat(), name="progress")
    try:
        yield
    finally:
        heartbeat.cancel()


@contextmanager
def consuming(tracer: Tracer, message: Msg) -> Iterator[None]:
    """The consumer's span of one message, in the trace its ``traceparent`` header carries on."""
    parent = propagate.extract(message.headers or {})
    with tracer.start_as_current_span(
        f"{message.subject} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.destination.name": message.subject},
    ):
        yield


@dataclass(frozen=True)
class Received:
    """A message of a batch with the event it holds, in the order the stream holds them."""

    message: Msg
    event: Event


async def _fetched(fetch: Callable[[], Awaitable[list[Msg]]], durable: str) -> AsyncIterator[list[Msg]]:
    """What each fetch brings, for ever: an idle fetch (``TimeoutError``, nats-py's or asyncio's)
    asks again; a failed one waits a growing while first."""
    failures = 0
    while True:
        try:
            messages = await fetch()
        except TimeoutError:
            continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # NATS is away: the client reconnects by itself, and the subscription with it.
            failures += 1
            logger.warning("%s: fetch failed (%r); trying again", durable, exc)
            await asyncio.sleep(min(0.2 * 2**failures, 5.0))
            continue
        failures = 0
        yield messages


class EventConsumer:
    """The loop of one durable pull consumer on one replica: it fetches what the consumer has (up to
    ``batch_size`` messages, without waiting for more once one is there) and hands the whole batch
    to ``handle_batch``, which applies it in one transaction, in stream order. Under load that is a
    transaction, a commit and an inbox statement per batch instead of per event.

    A batch that fails is taken one message at a time through ``handle_one``, so that only the
    message at fault is retried with its delays or dead-lettered, exactly as a lone message is."""

    def __init__(
        self,
        broker: NatsBroker,
        spec: ConsumerSpec,
        *,
        handle_one: Handler,
        handle_batch: BatchHandler,
        retry_delays: Sequence[float],
        tracer: Tracer,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.broker = broker
        self.spec = spec
        self.handle_one = handle_one
        self.handle_batch = handle_batch
        self.retry_delays = retry_delays
        self.tracer = tracer
        self.batch_size = batch_size
        self._loops: list[tuple[asyncio.Task[None], Puller]] = []
        self._watcher: tuple[asyncio.Task[None], Puller] | None = None

    async def start(self, connection: NATS) -> None:
        """Start taking the durable consumer's messages (it is created elsewhere): ``spec.concurrency``
        loops, each with an inbox of its own, so that that many batches are handled at once where
        order between messages does not matter, and one more loop on the consumer's twin on
        ``MAX_DELIVERIES`` (``_watch``). The inboxes are under the service's own prefix, the only
        subjects its NATS user may subscribe to."""
        prefix = inbox_prefix(self.spec.service)
        while len(self._loops) < self.spec.concurrency:
            puller = Puller(
                connection, stream=self.spec.stream.name, durable=self.spec.durable, inbox_prefix=prefix
            )
            await puller.start()
            task = asyncio.create_task(self._run(puller), name=f"consume {self.spec.durable}")
            self._loops.append((task, puller))
        if self._watcher is None:
            durable = self.spec.max_deliveries_durable
            puller = Puller(connection, stream=MAX_DELIVERIES.name, durable=durable, inbox_prefix=prefix)
            await puller.start()
            task = asyncio.create_task(self._watch(puller), name=f"watch {durable}")
            self._watcher = (task, puller)

    async def stop(self) -> None:
        """Stop fetching. A batch cut off here is rolled back and left unacknowledged, so JetStream
        hands it out again, and the inbox makes the second handling harmless."""
        loops, self._loops = self._loops, []
        if self._watcher is not None:
            loops.append(self._watcher)
            self._watcher = None
        for task, _ in loops:
            task.cancel()
        if loops:
            await asyncio.wait({task for task, _ in loops}, timeout=5)
        for _, puller in loops:
            try:
                await puller.stop()
            except Exception as exc:
                logger.warning("%s: unsubscribing failed: %r", self.spec.durable, exc)

    async def _run(self, puller: Puller) -> None:
        async for messages in _fetched(
            partial(puller.take, batch=self.batch_size, wait=FETCH_WAIT_SECONDS), self.spec.durable
        ):
            try:
                await self._handle(messages)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Whatever is left unacknowledged comes back after ack_wait.
                logger.exception("%s: a batch could not be handled", self.spec.durable)

    async def _watch(self, puller: Puller) -> None:
        """Dead-letter each message the consumer's twin on ``MAX_DELIVERIES`` says JetStream gave
        up on."""
        durable = self.spec.max_deliveries_durable
        take = partial(puller.take, batch=self.batch_size, wait=FETCH_WAIT_SECONDS)
        async for advisories in _fetched(take, durable):
            for advisory in advisories:
                try:
                    await _dead_letter_exhausted(
                        self.broker, self.spec, advisory, retry_delays=self.retry_delays
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Left unacknowledged, the advisory comes back after the twin's ack_wait.
                    logger.exception("%s: an advisory could not be handled", durable)

    async def _handle(self, messages: Sequence[Msg]) -> None:
        batch: list[Received] = []
        for message in messages:
            try:
                batch.append(Received(message, parse_event(message.data)))
            except ValidationError as exc:
                error = PermanentError(f"not a valid event: {exc.error_count()} error(s)")
                await _dead_letter(self.broker, self.spec, message, error, _deliveries(message))
        if len(batch) > 1:
            try:
                await self._within_cutoff([item.message for item in batch], self.handle_batch(batch))
            except Exception as exc:
                logger.info(
                    "%s: a batch of %d failed (%r); one at a time", self.spec.durable, len(batch), exc
                )
            else:
                await asyncio.gather(*(item.message.ack() for item in batch))
                return
        for item in batch:
            await self._handle_alone(item)

    async def _within_cutoff(self, messages: Sequence[Msg], work: Awaitable[None]) -> None:
        cutoff = asyncio.timeout(self.spec.handler_timeout_seconds)
        try:
            async with reporting_progress(messages, every=self.spec.ack_wait_seconds / 3), cutoff:
                await work
        except TimeoutError as exc:
            if cutoff.expired():
                raise HandlerTimedOut(f"handler ran past {self.spec.handler_timeout_seconds:g}s") from exc
            raise

    async def _handle_alone(self, item: Received) -> None:
        message, deliveries = item.message, _deliveries(item.message)
        try:
            with consuming(self.tracer, message):
                await self._within_cutoff([message], self.handle_one(item.event))
        except PermanentError as exc:
            await _dead_letter(self.broker, self.spec, message, exc, deliveries)
        except Exception as exc:
            if deliveries >= self.spec.max_deliver:
                await _dead_letter(self.broker, self.spec, message, exc, deliveries)
                return
            delay = retry_delay(self.retry_delays, deliveries)
            logger.warning(
                "%s failed on delivery %d/%d, retrying in %.1fs: %r",
                self.spec.durable,
                deliveries,
                self.spec.max_deliver,
                delay,
                exc,
            )
            await message.nak(delay=delay)
        else:
            await message.ack()


def _deliveries(message: Msg) -> int:
    return message.metadata.num_delivered or 1


async def _dead_letter(
    broker: NatsBroker, spec: ConsumerSpec, message: Msg, error: Exception, deliveries: int
) -> None:
    logger.error("%s gives up after %d deliveries: %r", spec.durable, deliveries, error)
    headers = dead_letter_headers(
        message.headers or {},
        spec=spec,
        subject=message.subject,
        sequence=message.metadata.sequence.stream,
        error=repr(error),
        deliveries=deliveries,
    )
    try:
        await broker.publish(
            message.data, dead_letter_subject(spec), headers=headers, stream=DEAD_LETTER.name
        )
    except Exception:
        logger.exception("dead-lettering failed; the message stays in its stream")
        await message.nak(delay=30.0)
        return
    await message.term()


async def _dead_letter_exhausted(
    broker: NatsBroker, spec: ConsumerSpec, msg: Msg, *, retry_delays: Sequence[float]
) -> None:
    """Dead-letter the message a max-deliveries advisory names; retried with the consumer's
    delays while NATS cannot take it."""
    try:
        advisory = MaxDeliveriesAdvisory.model_validate_json(msg.data)
    except ValidationError:
        logger.error("%s: not a max-deliveries advisory; dropped", spec.max_deliveries_durable)
        await msg.term()
        return
    sequence = advisory.stream_seq
    try:
        raw = await broker.config.connection_state.stream.get_msg(spec.stream.name, seq=sequence)
        headers = dead_letter_headers(
            raw.headers or {},
            spec=spec,
            subject=raw.subject,
            sequence=sequence,
            error=f"no answer within ack_wait ({spec.ack_wait_seconds:g}s) on any delivery",
            deliveries=advisory.deliveries,
        )
        await broker.publish(
            raw.data or b"", dead_letter_subject(spec), headers=headers, stream=DEAD_LETTER.name
        )
    except NotFoundError:
        logger.error("%s: sequence %d is no longer in %s", spec.durable, sequence, spec.stream.name)
        await msg.ack()
        return
    except Exception:
        logger.exception("%s: dead-lettering sequence %d failed; retrying", spec.durable, sequence)
        await msg.nak(delay=retry_delay(retry_delays, _deliveries(msg)))
        return
    logger.error(
        "%s gave up on sequence %d after %d deliveries without an answer",
        spec.durable,
        sequence,
        advisory.deliveries,
    )
    await msg.ack()
