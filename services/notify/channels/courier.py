"""Couriers: one background worker per outside channel (email, SMS, webhook) that hands stored
notifications to the channel's provider once the transactions storing them commit. Each is woken on
commit and otherwise looks now and then for retries that fell due and for work another replica
dropped. One courier per channel, so that a slow SMS gateway never holds up email.

A channel plugs in through a ``ChannelSender``; the lease, the attempts, the retries and the
metrics are the courier's.

However many replicas run, a message is handed to its provider once per attempt, because:

- a courier claims no more messages than it sends at once (``concurrency``) and starts sending
  each the moment the claim commits: nothing waits, leased, behind a slow conversation;
- a claim lasts ``delivery.lease_seconds``: the longest one attempt may take on the channel
  (``ChannelSender.longest_send``, the provider's timeout times the waits of one conversation)
  plus a margin, and the courier cuts an attempt off at that longest time. So while a courier may
  still be talking to the provider, its lease has not lapsed and no other replica can claim the
  message;
- a courier held up between claiming and sending (a paused process) no longer starts a send that
  its lease cannot cover: it gives the message back instead;
- an outcome is stored only while the row is still this courier's (``lease_owner``): a courier
  that lost its lease stores nothing, and the attempt of the replica that took over is the one that
  counts.

What no lease can rule out: an attempt cut off, or a process paused mid-conversation for longer
than the margin, may have reached the provider all the same. A retry then carries the same
Message-ID (email) or reference (SMS, webhook), so that the receiver can tell it from a new message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import uuid4

from prometheus_client import CollectorRegistry, Counter
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.channels import delivery
from services.notify.channels.delivery import AttemptResult, Claimed
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import DeliverySettings
from shared.db import Database
from shared.events import utc_now
from shared.worker import BackgroundWorker, backoff_seconds

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

    def longest_send(self) -> float:
        """The longest one attempt may take, in seconds, from the current settings: the courier's
        lease covers it, and the courier cuts an attempt off there."""
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
        """Deliver everything due now, ``concurrency`` messages at a time; returns how long to sleep
        before looking again. Each round costs two transactions (claim, record)."""
        settings = self.settings()
        if not self.sender.ready():
            return settings.poll_seconds
        longest = self.sender.longest_send()
        lease = delivery.lease_seconds(longest_send=longest, settings=settings)
        while not self.worker.stopping:
            # Read before the clock the lease is written with, so that the lease as measured here
            # never ends after the one stored on the rows.
            claimed_at = time.monotonic()
            async with self.db.session() as session:
                claimed = await delivery.claim_due(
                    session=session,
                    channel=self.channel,
                    owner=self.owner,
                    now=utc_now(),
                    lease_seconds=lease,
                    limit=settings.concurrency,
                )
            if not claimed:
                break
            # The last moment a send may start and still end, cut off at ``longest``, in the lease.
            start_by = claimed_at + lease - longest
            outcomes = await asyncio.gather(
                *(self._attempt(item, longest=longest, start_by=start_by) for item in claimed)
            )
            await self._record(list(zip(claimed, outcomes, strict=True)), settings, lease=lease)
        async with self.db.reading() as session:
            next_at = await delivery.next_due_at(session=session, channel=self.channel, now=utc_now())
        if next_at is None:
            return settings.poll_seconds
        return min(settings.poll_seconds, max(0.0, (next_at - utc_now()).total_seconds()))

    async def _attempt(
        self, claimed: Claimed, *, longest: float, start_by: float
    ) -> AttemptResult | datetime:
        """The attempt's result, or the moment to hold the message until instead of sending it."""
        now = utc_now()
        held = self.sender.hold_until(claimed, now)
        if held is not None:
            return held
        if time.monotonic() > start_by:
            logger.warning(
                "%s %s: claimed too long ago to send within the lease; given back",
                self.channel.value,
                claimed.notification_id,
            )
            return now
        # Outside any transaction: a conversation with a provider must never hold a database lock.
        cutoff = asyncio.timeout(longest)
        try:
            async with cutoff:
                return await self.sender.send(claimed)
        except Exception as exc:
            if cutoff.expired():
                return AttemptResult(
                    NotificationStatus.TECHNICAL_FAILURE, f"no answer within {longest:g}s: cut off"
                )
            # A bug or an input the adapter did not foresee: counted as an attempt, so that the
            # bound on retries holds, instead of leaving the row leased and retried for ever.
            logger.exception(
                "%s %s: sending failed unexpectedly", self.channel.value, claimed.notification_id
            )
            return AttemptResult(NotificationStatus.TECHNICAL_FAILURE, f"{exc.__class__.__name__}: {exc}")

    async def _record(
        self,
        outcomes: list[tuple[Claimed, AttemptResult | datetime]],
        settings: DeliverySettings,
        *,
        lease: float,
    ) -> None:
        """Store the outcomes, trying again while the database refuses. A message that was sent but
        whose outcome is not stored stays leased, and another replica would send it again once the
        lease lapses; the row is still this courier's until then, so a later try still counts."""
        failures = 0
        give_up_at = time.monotonic() + lease
        while True:
            try:
                kept = await self._store(outcomes, settings)
                break
            except Exception as exc:
                failures += 1
                if self.worker.stopping or time.monotonic() >= give_up_at:
                    raise
                delay = backoff_seconds(failures)
                logger.warning(
                    "%s: storing %d outcome(s) failed (%r); trying again in %.1fs",
                    self.channel.value,
                    len(outcomes),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        self._log(kept)

    async def _store(
        self, outcomes: list[tuple[Claimed, AttemptResult | datetime]], settings: DeliverySettings
    ) -> list[tuple[Claimed, AttemptResult | datetime, bool]]:
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
        return kept

    def _log(self, kept: list[tuple[Claimed, AttemptResult | datetime, bool]]) -> None:
        channel = self.channel.value
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
