"""Couriers: one background worker per outside channel (email, SMS, webhook) that hands stored
notifications to the channel's provider once the transactions storing them commit. Each is woken on
commit and otherwise looks now and then for retries that fell due and for work another replica
dropped. One courier per channel, so that a slow SMS gateway never holds up email.

A channel plugs in through a ``ChannelSender``; the lease, the attempts, the retries and the
metrics are the courier's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import uuid4

from prometheus_client import CollectorRegistry, Counter
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify import delivery
from services.notify.delivery import AttemptResult, Claimed
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import DeliverySettings
from shared.db import Database
from shared.events import utc_now
from shared.worker import BackgroundWorker

logger = logging.getLogger(__name__)


class ChannelSender(Protocol):
    """Hands one message to a channel's provider. Reads its settings at each call, so that they
    can change while the service runs."""

    channel: Channel

    def ready(self) -> bool:
        """Whether the channel is switched on and configured; messages wait, pending, until it is."""
        ...

    def hold_until(self, claimed: Claimed, now: datetime) -> datetime | None:
        """A later moment when the message must not go now (quiet hours); None to send it."""
        ...

    async def send(self, claimed: Claimed) -> AttemptResult:
        """One attempt; reports what the provider or the network did instead of raising."""
        ...


def delivery_outcomes(registry: CollectorRegistry | None) -> Counter:
    """The counter every courier of a service counts its attempts in."""
    return Counter(
        "motcua_notify_deliveries",
        "Delivery attempts of notifications to outside providers, by channel and outcome",
        ["channel", "outcome"],
        registry=registry,
    )


class Courier:
    def __init__(
        self,
        db: Database,
        sender: ChannelSender,
        settings: Callable[[], DeliverySettings],
        *,
        outcomes: Counter,
    ) -> None:
        self.db = db
        self.sender = sender
        self.channel = sender.channel
        self.settings = settings
        self.owner = uuid4().hex
        self._outcomes = outcomes
        self.worker = BackgroundWorker(f"{self.channel.value}-courier", self.deliver_due)

    def wake(self) -> None:
        self.worker.wake()

    def wake_after_commit(self, session: AsyncSession) -> None:
        self.worker.wake_after_commit(session)

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def deliver_due(self) -> float:
        """Deliver everything due now, a batch at a time; returns how long to sleep before looking
        again. A batch costs two transactions (claim, record) however many messages it holds."""
        settings = self.settings()
        if not self.sender.ready():
            return settings.poll_seconds
        while not self.worker.stopping:
            async with self.db.session() as session:
                claimed = await delivery.claim_due(
                    session=session,
                    channel=self.channel,
                    owner=self.owner,
                    now=utc_now(),
                    lease_seconds=settings.lease_seconds,
                    limit=settings.batch_size,
                )
            if not claimed:
                break
            # A provider conversation is mostly waiting: several at once, up to the bound.
            limit = asyncio.Semaphore(settings.concurrency)
            outcomes = await asyncio.gather(*(self._attempt(item, limit) for item in claimed))
            await self._record(list(zip(claimed, outcomes, strict=True)), settings)
        async with self.db.reading() as session:
            next_at = await delivery.next_due_at(session=session, channel=self.channel, now=utc_now())
        if next_at is None:
            return settings.poll_seconds
        return min(settings.poll_seconds, max(0.0, (next_at - utc_now()).total_seconds()))

    async def _attempt(self, claimed: Claimed, limit: asyncio.Semaphore) -> AttemptResult | datetime:
        """The attempt's result, or the moment to hold the message until instead of sending it."""
        held = self.sender.hold_until(claimed, utc_now())
        if held is not None:
            return held
        # Outside any transaction: a conversation with a provider must never hold a database lock.
        async with limit:
            try:
                return await self.sender.send(claimed)
            except Exception as exc:
                # A bug or an input the adapter did not foresee: counted as an attempt, so that the
                # bound on retries holds, instead of leaving the row leased and retried for ever.
                logger.exception(
                    "%s %s: sending failed unexpectedly", self.channel.value, claimed.notification_id
                )
                return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, f"{exc.__class__.__name__}: {exc}")

    async def _record(
        self, outcomes: list[tuple[Claimed, AttemptResult | datetime]], settings: DeliverySettings
    ) -> None:
        channel = self.channel.value
        kept: list[tuple[Claimed, AttemptResult | datetime, bool]] = []
        async with self.db.session() as session:
            now = utc_now()
            for claimed, outcome in outcomes:
                if isinstance(outcome, datetime):
                    stored = await delivery.postpone(
                        session=session, claimed=claimed, owner=self.owner, until=outcome
                    )
                else:
                    stored = await delivery.record_attempt(
                        session=session,
                        claimed=claimed,
                        owner=self.owner,
                        result=outcome,
                        now=now,
                        settings=settings,
                    )
                kept.append((claimed, outcome, stored))
        for claimed, outcome, stored in kept:
            if not stored:
                logger.warning(
                    "%s %s: lease lost before attempt %d was recorded",
                    channel,
                    claimed.notification_id,
                    claimed.attempt,
                )
            elif isinstance(outcome, datetime):
                logger.info("%s %s held until %s", channel, claimed.notification_id, outcome.isoformat())
            else:
                self._outcomes.labels(channel, outcome.outcome.value).inc()
                logger.info(
                    "%s %s attempt %d: %s (%s)",
                    channel,
                    claimed.notification_id,
                    claimed.attempt,
                    outcome.outcome.value,
                    outcome.detail,
                )


class Couriers:
    """The couriers of one notify replica, by channel."""

    def __init__(self, couriers: list[Courier]) -> None:
        self.by_channel = {courier.channel: courier for courier in couriers}

    def wake_after_commit(self, session: AsyncSession, channels: set[Channel]) -> None:
        for channel in channels:
            courier = self.by_channel.get(channel)
            if courier is not None:
                courier.wake_after_commit(session)

    def wake(self) -> None:
        for courier in self.by_channel.values():
            courier.wake()

    def start(self) -> None:
        for courier in self.by_channel.values():
            courier.start()

    async def stop(self) -> None:
        for courier in self.by_channel.values():
            await courier.stop()
