"""Durable pull subscribers with a retry policy and a dead-letter subject.

FastStream's default ack policy terminates a failed message, and ``NACK_ON_ERROR`` redelivers it at
once in a hot loop. Here a failed handler is nacked with a growing delay; once ``max_deliver`` is
reached the message goes to ``dlq.<service>.<consumer>`` in the DLQ stream, where ``motcua dlq`` finds it.

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
and dead-letters it with the same headers. Both ways give the dead letter the same
``Nats-Msg-Id`` (stream, consumer, sequence), so a message that takes both is stored once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from shared.bus.permissions import inbox_prefix
from shared.bus.streams import DEAD_LETTER, DEAD_LETTER_PREFIX, MAX_DELIVERIES, ConsumerSpec
from shared.events import Event, parse_event
from shared.personal_data import mask_personal_data

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]

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
async def reporting_progress(msg: NatsMessage, *, every: float) -> AsyncIterator[None]:
    """Tell JetStream every ``every`` seconds that ``msg`` is still being handled."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await msg.in_progress()
            except Exception as exc:
                # A lost connection: the next beat may get through, and at worst the message is
                # redelivered, which the inbox makes harmless.
                logger.warning("progress report failed: %r", exc)

    heartbeat = asyncio.create_task(beat(), name="progress")
    try:
        yield
    finally:
        heartbeat.cancel()


def subscribe(
    broker: NatsBroker, spec: ConsumerSpec, handler: Handler, *, retry_delays: Sequence[float]
) -> None:
    """Bind ``handler`` to the durable consumer ``spec``; the consumer itself is created elsewhere.

    Fetched messages come to inboxes under the service's own prefix, the only ones its NATS user
    may subscribe to."""
    inbox = f"{inbox_prefix(spec.service)}.".encode()

    @broker.subscriber(
        spec.max_deliveries_subject,
        stream=JStream(MAX_DELIVERIES.name, declare=False),
        durable=spec.max_deliveries_durable,
        config=spec.max_deliveries_config(),
        pull_sub=PullSub(batch_size=10, timeout=2.0),
        inbox_prefix=inbox,
        ack_policy=AckPolicy.MANUAL,
        title=spec.max_deliveries_durable,
    )
    async def dead_letter_exhausted(msg: NatsMessage) -> None:
        await _dead_letter_exhausted(broker, spec, msg, retry_delays=retry_delays)

    @broker.subscriber(
        spec.subject,
        stream=JStream(spec.stream.name, declare=False),
        durable=spec.durable,
        config=spec.config(),
        pull_sub=PullSub(batch_size=50, timeout=2.0),
        inbox_prefix=inbox,
        max_workers=spec.concurrency,
        ack_policy=AckPolicy.MANUAL,
        title=spec.durable,
    )
    async def consume(msg: NatsMessage) -> None:
        deliveries = msg.raw_message.metadata.num_delivered
        try:
            try:
                event = parse_event(msg.body)
            except ValidationError as exc:
                raise PermanentError(f"not a valid event: {exc.error_count()} error(s)") from exc
            cutoff = asyncio.timeout(spec.handler_timeout_seconds)
            try:
                async with reporting_progress(msg, every=spec.ack_wait_seconds / 3), cutoff:
                    await handler(event)
            except TimeoutError as exc:
                if cutoff.expired():
                    raise HandlerTimedOut(f"handler ran past {spec.handler_timeout_seconds:g}s") from exc
                raise
        except PermanentError as exc:
            await _dead_letter(broker, spec, msg, exc, deliveries)
        except Exception as exc:
            if deliveries >= spec.max_deliver:
                await _dead_letter(broker, spec, msg, exc, deliveries)
                return
            delay = retry_delay(retry_delays, deliveries)
            logger.warning(
                "%s failed on delivery %d/%d, retrying in %.1fs: %r",
                spec.durable,
                deliveries,
                spec.max_deliver,
                delay,
                exc,
            )
            await msg.nack(delay=delay)
        else:
            await msg.ack()


async def _dead_letter(
    broker: NatsBroker, spec: ConsumerSpec, msg: NatsMessage, error: Exception, deliveries: int
) -> None:
    logger.error("%s gives up after %d deliveries: %r", spec.durable, deliveries, error)
    headers = dead_letter_headers(
        msg.headers,
        spec=spec,
        subject=msg.raw_message.subject,
        sequence=msg.raw_message.metadata.sequence.stream,
        error=repr(error),
        deliveries=deliveries,
    )
    try:
        await broker.publish(msg.body, dead_letter_subject(spec), headers=headers, stream=DEAD_LETTER.name)
    except Exception:
        logger.exception("dead-lettering failed; the message stays in its stream")
        await msg.nack(delay=30.0)
        return
    await msg.reject()


async def _dead_letter_exhausted(
    broker: NatsBroker, spec: ConsumerSpec, msg: NatsMessage, *, retry_delays: Sequence[float]
) -> None:
    """Dead-letter the message a max-deliveries advisory names; retried with the consumer's
    delays while NATS cannot take it."""
    try:
        advisory = MaxDeliveriesAdvisory.model_validate_json(msg.body)
    except ValidationError:
        logger.error("%s: not a max-deliveries advisory; dropped", spec.max_deliveries_durable)
        await msg.reject()
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
        await msg.nack(delay=retry_delay(retry_delays, msg.raw_message.metadata.num_delivered))
        return
    logger.error(
        "%s gave up on sequence %d after %d deliveries without an answer",
        spec.durable,
        sequence,
        advisory.deliveries,
    )
    await msg.ack()
