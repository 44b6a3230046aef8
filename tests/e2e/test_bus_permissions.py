"""The bus is closed: nobody connects without a user, and each service's user publishes only the
events it owns and reads only the streams it consumes. Against a real nats-server configured as
``motcua up`` configures it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError

from shared.bus.dead_letter import UntrustedDeadLetter, list_dead_letters, replay
from shared.bus.permissions import inbox_prefix
from shared.bus.streams import DIRECTORY, DOSSIER, ensure_streams
from shared.events import DirectoryPersonChanged
from shared.nats_server import NatsServer


class Violations:
    """What the server told a client it may not do."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:
        self.errors.append(str(error))

    def about(self, kind: str, subject: str) -> bool:
        # The client reports the server's words in lower case.
        wanted = f'permissions violation for {kind} to "{subject}"'.lower()
        return any(wanted in error.lower() for error in self.errors)


@asynccontextmanager
async def connected(
    server: NatsServer, user: str, violations: Violations | None = None
) -> AsyncIterator[Client]:
    client = await nats.connect(
        server.url,
        user=user,
        password=server.passwords[user],
        inbox_prefix=inbox_prefix(user),
        error_cb=(violations or Violations()).record,
        max_reconnect_attempts=0,
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def streams(nats_server: NatsServer) -> NatsServer:
    async with connected(nats_server, "operator") as client:
        await ensure_streams(client.jetstream())
    return nats_server


def _person() -> bytes:
    return (
        DirectoryPersonChanged(
            username="mallory",
            full_name="Mallory",
            role="admin",
            agency_code=None,
            unit_code=None,
            email=None,
            active=True,
        )
        .model_dump_json()
        .encode()
    )


async def test_an_anonymous_connection_is_refused(nats_server: NatsServer) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(
            nats_server.url, error_cb=Violations().record, allow_reconnect=False, connect_timeout=2
        )


async def test_a_wrong_password_is_refused(nats_server: NatsServer) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(
            nats_server.url,
            user="intake",
            password="guess",
            error_cb=Violations().record,
            allow_reconnect=False,
        )


async def test_intake_cannot_publish_a_directory_change(streams: NatsServer) -> None:
    violations = Violations()
    async with connected(streams, "intake", violations) as intake:
        with pytest.raises(NatsTimeoutError):
            await intake.jetstream().publish("directory.person.changed", _person(), timeout=1)
        await asyncio.sleep(0.1)
    assert violations.about("publish", "directory.person.changed")
    async with connected(streams, "operator") as operator:
        assert (await operator.jetstream().stream_info(DIRECTORY.name)).state.messages == 0


async def test_notify_publishes_no_dossier_event(streams: NatsServer) -> None:
    violations = Violations()
    async with connected(streams, "notify", violations) as notify:
        with pytest.raises(NatsTimeoutError):
            await notify.jetstream().publish("dossier.refused", b"{}", timeout=1)
        await asyncio.sleep(0.1)
    assert violations.about("publish", "dossier.refused")
    async with connected(streams, "operator") as operator:
        assert (await operator.jetstream().stream_info(DOSSIER.name)).state.messages == 0


async def test_intake_cannot_read_the_directory_stream_nor_listen_to_its_subjects(
    streams: NatsServer,
) -> None:
    violations = Violations()
    async with (
        connected(streams, "processing") as processing,
        connected(streams, "intake", violations) as intake,
    ):
        heard: list[bytes] = []

        async def overhear(message: nats.aio.msg.Msg) -> None:
            heard.append(message.data)

        await intake.subscribe("directory.>", cb=overhear)
        await intake.subscribe("_INBOX_processing.>", cb=overhear)
        await processing.jetstream().publish("directory.person.changed", _person(), timeout=5)
        with pytest.raises(NatsTimeoutError):
            await intake.jetstream().pull_subscribe(
                "directory.>", durable="intake__snoop", stream=DIRECTORY.name
            )
        with pytest.raises(NatsTimeoutError):
            await intake.jetstream().get_msg(DIRECTORY.name, seq=1)
        await asyncio.sleep(0.2)
    assert heard == []
    assert violations.about("subscription", "directory.>")
    assert violations.about("publish", "$JS.API.CONSUMER.INFO.DIRECTORY.intake__snoop")
    assert violations.about("publish", "$JS.API.STREAM.MSG.GET.DIRECTORY")
    assert violations.about("subscription", "_INBOX_processing.>"), violations.errors


async def test_the_directory_change_processing_publishes_is_stored(streams: NatsServer) -> None:
    async with connected(streams, "processing") as processing:
        ack = await processing.jetstream().publish("directory.person.changed", _person(), timeout=5)
    assert ack.stream == DIRECTORY.name


async def test_a_dead_letter_intake_forges_for_a_directory_change_is_not_replayed(
    streams: NatsServer,
) -> None:
    violations = Violations()
    forged = {
        "Nats-Msg-Id": "forged-1",
        "Motcua-Dead-Subject": "directory.person.changed",
        "Motcua-Dead-Consumer": "notify__directory_person_changed",
        "Motcua-Dead-Error": "x",
        "Motcua-Dead-Deliveries": "6",
    }
    async with connected(streams, "intake", violations) as intake:
        # Under another service's name the server refuses it; under its own, replay does.
        with pytest.raises(NatsTimeoutError):
            await intake.jetstream().publish(
                "dlq.notify.notify__directory_person_changed", _person(), timeout=1
            )
        await intake.jetstream().publish(
            "dlq.intake.notify__directory_person_changed", _person(), headers=forged, timeout=5
        )
    assert violations.about("publish", "dlq.notify.notify__directory_person_changed")
    async with connected(streams, "operator") as operator:
        js = operator.jetstream()
        [letter] = await list_dead_letters(js)
        with pytest.raises(UntrustedDeadLetter, match="which its writer does not read"):
            await replay(js, letter)
        assert (await js.stream_info(DIRECTORY.name)).state.messages == 0
        assert len(await list_dead_letters(js)) == 1
