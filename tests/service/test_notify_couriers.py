"""Two notify replicas' couriers on one database, racing for the same due messages: every message is
handed to its provider exactly once, because a courier claims only what it sends at once and its
lease outlasts the longest conversation it may hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry
from sqlmodel import col, select

from services.notify.channels import delivery
from services.notify.channels.courier import Courier, delivery_outcomes
from services.notify.channels.delivery import AttemptResult, Claimed
from services.notify.channels.smtp import EmailSender
from services.notify.migrations import history
from services.notify.models import Channel, DeliveryAttempt, Notification, NotificationStatus
from services.notify.settings import DeliverySettings, SmtpSettings
from shared.db import Database
from shared.events import utc_now
from shared.migrations import upgrade
from shared.settings import CommonSettings
from tests.conftest import DatabaseSettingsFactory
from tests.system import Mailbox, smtp_serving

EMAILS = 6
# Slower than the shortest lease a broken rule could give (the margin alone), well inside the
# SMTP timeout.
DATA_DELAY_SECONDS = 1.0
SHORT_MARGIN = DeliverySettings(concurrency=2, lease_margin_seconds=0.5, poll_seconds=0.2)


@pytest.fixture
async def replicas(
    database_settings: DatabaseSettingsFactory, tmp_path: Path
) -> AsyncIterator[list[Database]]:
    """Two replicas' connections to one notify database, with the notify tables."""
    settings = database_settings("notify")
    url = settings.url(CommonSettings(data_dir=tmp_path))
    databases = [Database(url, schema=settings.database_schema) for _ in range(2)]
    await upgrade(databases[0], history)
    try:
        yield databases
    finally:
        for database in databases:
            await database.dispose()


async def store_due(db: Database, channel: Channel, count: int) -> list[str]:
    """``count`` notifications due now on ``channel``, as the handlers store them; their ids."""
    now = utc_now()
    rows = [
        Notification(
            event_id=str(uuid4()),
            event_type="dossier.accepted",
            recipient=f"citizen{index}@example.vn",
            channel=channel.value,
            subject=f"Hồ sơ {index} đã được tiếp nhận",
            body="GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ\n",
            next_attempt_at=now,
        )
        for index in range(count)
    ]
    async with db.session() as session:
        session.add_all(rows)
    return [row.id for row in rows]


async def stored(db: Database) -> tuple[list[Notification], list[DeliveryAttempt]]:
    async with db.reading() as session:
        notifications = list((await session.exec(select(Notification))).all())
        attempts = list((await session.exec(select(DeliveryAttempt).order_by(col(DeliveryAttempt.id)))).all())
    return notifications, attempts


def sent_by(registry: CollectorRegistry, channel: Channel) -> float:
    return (
        registry.get_sample_value(
            "motcua_notify_deliveries_total", {"channel": channel.value, "outcome": "sent"}
        )
        or 0.0
    )


async def test_two_couriers_on_a_slow_mail_server_send_every_email_exactly_once(
    replicas: list[Database],
) -> None:
    ids = await store_due(replicas[0], Channel.EMAIL, EMAILS)
    mailbox = Mailbox(data_delay=DATA_DELAY_SECONDS)
    registries = [CollectorRegistry() for _ in replicas]
    with smtp_serving(mailbox) as port:
        smtp = SmtpSettings(
            enabled=True,
            host="127.0.0.1",
            port=port,
            from_address="motcua@demo.motcua.vn",
            start_tls=False,
            allow_plaintext=True,
            timeout_seconds=DATA_DELAY_SECONDS * 3,
        )
        couriers = [
            Courier(db, EmailSender(lambda: smtp), lambda: SHORT_MARGIN, outcomes=delivery_outcomes(registry))
            for db, registry in zip(replicas, registries, strict=True)
        ]
        await asyncio.gather(*(courier.deliver_due() for courier in couriers))
        # Whatever wakes them later, nothing goes out again.
        await asyncio.gather(*(courier.deliver_due() for courier in couriers))

    assert sorted(str(message["To"]) for message in mailbox.messages) == sorted(
        f"citizen{index}@example.vn" for index in range(EMAILS)
    )
    assert len({str(message["Message-ID"]) for message in mailbox.messages}) == EMAILS
    # Both replicas really took part in the race.
    assert all(sent_by(registry, Channel.EMAIL) >= 1 for registry in registries)
    assert sum(sent_by(registry, Channel.EMAIL) for registry in registries) == EMAILS
    notifications, attempts = await stored(replicas[0])
    assert {row.id: (row.status, row.attempts, row.lease_owner) for row in notifications} == {
        id_: (NotificationStatus.SENT.value, 1, None) for id_ in ids
    }
    assert sorted((attempt.notification_id, attempt.attempt) for attempt in attempts) == sorted(
        (id_, 1) for id_ in ids
    )


class HangingSender:
    """A webhook endpoint that never answers, on a channel whose longest send is short."""

    channel = Channel.WEBHOOK

    def __init__(self) -> None:
        self.sends: list[str] = []

    def ready(self) -> bool:
        return True

    def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
        return None

    def longest_send(self) -> float:
        return 0.5

    async def send(self, claimed: Claimed) -> AttemptResult:
        self.sends.append(claimed.notification_id)
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_an_attempt_past_the_longest_send_is_cut_off_before_another_courier_can_claim_it(
    replicas: list[Database],
) -> None:
    [notification_id] = await store_due(replicas[0], Channel.WEBHOOK, 1)
    sender = HangingSender()
    settings = DeliverySettings(max_attempts=1, lease_margin_seconds=0.2, poll_seconds=0.2)
    outcomes = delivery_outcomes(CollectorRegistry())
    first, second = (Courier(db, sender, lambda: settings, outcomes=outcomes) for db in replicas)

    attempt = asyncio.create_task(first.deliver_due())
    # The other replica keeps looking while the first one waits on the endpoint.
    while not attempt.done():
        await second.deliver_due()
        await asyncio.sleep(0.05)
    await attempt

    assert sender.sends == [notification_id]
    [row], [recorded] = await stored(replicas[0])
    assert row.status == NotificationStatus.TECHNICAL_FAILURE.value
    assert row.attempts == 1 and row.next_attempt_at is None and row.lease_owner is None
    assert recorded.attempt == 1 and recorded.detail == "no answer within 0.5s: cut off"


async def test_an_email_whose_outcome_could_not_be_stored_at_first_is_not_sent_again(
    replicas: list[Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the first store of the outcomes (as PostgreSQL does when it runs out of
    connections): the courier stores them once it can, so nobody sends the emails again."""
    ids = await store_due(replicas[0], Channel.EMAIL, 3)
    record_attempt = delivery.record_attempt
    refusals = [ConnectionRefusedError("the database is away")]

    async def refused_once(**arguments: Any) -> bool:
        if refusals:
            raise refusals.pop()
        return await record_attempt(**arguments)

    monkeypatch.setattr(delivery, "record_attempt", refused_once)
    mailbox = Mailbox()
    with smtp_serving(mailbox) as port:
        smtp = SmtpSettings(
            enabled=True,
            host="127.0.0.1",
            port=port,
            from_address="motcua@demo.motcua.vn",
            start_tls=False,
            allow_plaintext=True,
        )
        outcomes = delivery_outcomes(CollectorRegistry())
        couriers = [
            Courier(db, EmailSender(lambda: smtp), lambda: SHORT_MARGIN, outcomes=outcomes) for db in replicas
        ]
        await couriers[0].deliver_due()
        await asyncio.sleep(SHORT_MARGIN.lease_margin_seconds + 0.5)  # any lease would have lapsed
        await asyncio.gather(*(courier.deliver_due() for courier in couriers))

    assert not refusals
    assert len(mailbox.messages) == 3
    notifications, attempts = await stored(replicas[0])
    assert {row.id: (row.status, row.attempts) for row in notifications} == {
        id_: (NotificationStatus.SENT.value, 1) for id_ in ids
    }
    assert len(attempts) == 3


async def test_claims_made_while_another_is_open_take_other_rows_and_never_more_than_asked(
    replicas: list[Database],
) -> None:
    """A claim made while another replica's claim is still open, as two couriers' are in a race:
    it takes rows the first did not, and no more than its limit, so the lease it measured covers
    everything it holds."""
    ids = await store_due(replicas[0], Channel.EMAIL, 6)

    async def claim(session: Any, owner: str) -> list[str]:
        claimed = await delivery.claim_due(
            session=session, channel=Channel.EMAIL, owner=owner, now=utc_now(), lease_seconds=30, limit=2
        )
        return [item.notification_id for item in claimed]

    async def second_claim() -> list[str]:
        async with replicas[1].session() as session:
            return await claim(session, "second")

    async with replicas[0].session() as first_session:
        first = await claim(first_session, "first")
        # Under way before the first commits: PostgreSQL answers at once, SQLite once it may write.
        second_task = asyncio.create_task(second_claim())
        await asyncio.sleep(0.2)
    second = await asyncio.wait_for(second_task, timeout=5)

    assert len(first) == 2 and len(second) == 2
    assert not set(first) & set(second)
    assert set(first) | set(second) <= set(ids)
