"""Durable pull subscribers with a retry policy and a dead-letter subject.

FastStream's default ack policy terminates a failed message, and ``NACK_ON_ERROR`` redelivers it at
once in a hot loop. Here a failed handler is nacked with a growing delay; once ``max_deliver`` is
reached the message goes to ``dlq.<consumer>`` in the DLQ stream, where ``motcua dlq`` finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from pydantic import ValidationError

from shared.bus.streams import DEAD_LETTER, DEAD_LETTER_PREFIX, ConsumerSpec
from shared.events import Event, parse_event

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]

DEAD_SUBJECT = "Motcua-Dead-Subject"
DEAD_CONSUMER = "Motcua-Dead-Consumer"
DEAD_ERROR = "Motcua-Dead-Error"
DEAD_DELIVERIES = "Motcua-Dead-Deliveries"


class PermanentError(Exception):
    """An event that can never be handled: it goes to the dead-letter subject at once."""


def retry_delay(delays: Sequence[float], deliveries: int) -> float:
    return delays[min(deliveries, len(delays)) - 1]


def dead_letter_subject(spec: ConsumerSpec) -> str:
    return f"{DEAD_LETTER_PREFIX}.{spec.durable}"


def subscribe(
    broker: NatsBroker, spec: ConsumerSpec, handler: Handler, *, retry_delays: Sequence[float]
) -> None:
    """Bind ``handler`` to the durable consumer ``spec``; the consumer itself is created elsewhere."""

    @broker.subscriber(
        spec.subject,
        stream=JStream(spec.stream.name, declare=False),
        durable=spec.durable,
        config=spec.config(),
        pull_sub=PullSub(batch_size=50, timeout=2.0),
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
            await handler(event)
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
    headers = {
        key: value
        for key, value in msg.headers.items()
        if isinstance(value, str) and key not in {"Nats-Msg-Id", "traceparent", "tracestate"}
    }
    sequence = msg.raw_message.metadata.sequence.stream
    headers.update(
        {
            "Nats-Msg-Id": f"{spec.durable}-{sequence}",
            DEAD_SUBJECT: msg.raw_message.subject,
            DEAD_CONSUMER: spec.durable,
            DEAD_ERROR: repr(error)[:500],
            DEAD_DELIVERIES: str(deliveries),
        }
    )
    try:
        await broker.publish(msg.body, dead_letter_subject(spec), headers=headers, stream=DEAD_LETTER.name)
    except Exception:
        logger.exception("dead-lettering failed; the message stays in its stream")
        await msg.nack(delay=30.0)
        return
    await msg.reject()
