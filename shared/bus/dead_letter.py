"""Reading and replaying dead-lettered messages (``motcua dlq list`` / ``motcua dlq replay``)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.bus.consumer import DEAD_CONSUMER, DEAD_DELIVERIES, DEAD_ERROR, DEAD_SUBJECT
from shared.bus.permissions import ACCESS
from shared.bus.streams import DEAD_LETTER, DEAD_LETTER_PREFIX, stream_for


class UntrustedDeadLetter(Exception):
    """A dead letter whose writer could not have received the message it carries."""


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    # The subject the letter was stored under: ``dlq.<service>.<consumer>``.
    letter_subject: str
    subject: str
    consumer: str
    error: str
    deliveries: int
    body: bytes
    headers: dict[str, str]


async def list_dead_letters(js: JetStreamContext, *, limit: int = 1000) -> list[DeadLetter]:
    info = await js.stream_info(DEAD_LETTER.name)
    letters: list[DeadLetter] = []
    if info.state.messages == 0:
        # A stream that never held a message reports first_seq 0, which get_msg refuses.
        return letters
    sequence = max(info.state.first_seq, 1)
    while sequence <= info.state.last_seq and len(letters) < limit:
        try:
            raw = await js.get_msg(DEAD_LETTER.name, seq=sequence)
        except NotFoundError:
            sequence += 1
            continue
        headers = dict(raw.headers or {})
        letters.append(
            DeadLetter(
                sequence=sequence,
                letter_subject=raw.subject or "",
                subject=headers.get(DEAD_SUBJECT, ""),
                consumer=headers.get(DEAD_CONSUMER, ""),
                error=headers.get(DEAD_ERROR, ""),
                deliveries=int(headers.get(DEAD_DELIVERIES, "0")),
                body=raw.data or b"",
                headers=headers,
            )
        )
        sequence += 1
    return letters


def check_writer(letter: DeadLetter) -> None:
    """``UntrustedDeadLetter`` unless the service that wrote the letter reads the stream of the
    subject it names. The operator replays as a user who may publish anything, so without this a
    service could have a subject it may not publish (intake: ``directory.person.changed``)
    published for it by writing a dead letter."""
    parts = letter.letter_subject.split(".")
    writer = parts[1] if len(parts) == 3 and parts[0] == DEAD_LETTER_PREFIX else None
    try:
        stream = stream_for(letter.subject)
    except LookupError as exc:
        raise UntrustedDeadLetter(f"dead letter {letter.sequence} names no stream's subject") from exc
    access = ACCESS.get(writer or "")
    if access is None or stream not in access.consumes:
        raise UntrustedDeadLetter(
            f"dead letter {letter.sequence} ({letter.letter_subject}) names {letter.subject}, "
            "which its writer does not read; not replayed"
        )


async def replay(js: JetStreamContext, letter: DeadLetter) -> None:
    """Publish the message to its original subject again and drop it from the DLQ.

    Every consumer of that subject sees it again; the ones that handled it before skip it through
    their inbox, so only the consumer that failed acts on it. A letter whose writer could not have
    received that message raises ``UntrustedDeadLetter`` and stays.
    """
    check_writer(letter)
    headers = {
        key: value
        for key, value in letter.headers.items()
        if key not in {DEAD_SUBJECT, DEAD_CONSUMER, DEAD_ERROR, DEAD_DELIVERIES}
    }
    headers["Nats-Msg-Id"] = f"replay-{DEAD_LETTER.name}-{letter.sequence}"
    await js.publish(letter.subject, letter.body, stream=stream_for(letter.subject).name, headers=headers)
    await js.delete_msg(DEAD_LETTER.name, letter.sequence)
