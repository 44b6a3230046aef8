"""The background task that delivers email notifications once the transactions storing them
commit, like the outbox relay: woken on commit, and polling now and then for retries that fell
due and for work another replica dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify import delivery
from services.notify.delivery import AttemptResult, Claimed
from services.notify.models import Channel, NotificationStatus
from services.notify.settings import DeliverySettings, SmtpSettings
from services.notify.smtp import send_email
from shared.db import Database
from shared.events import utc_now

logger = logging.getLogger(__name__)

Sender = Callable[[Claimed, SmtpSettings], Awaitable[AttemptResult]]


class EmailCourier:
    """Reads its settings from ``state.smtp`` and ``state.delivery`` on every pass, so that they
    can change while the service runs (the tests point it at their own SMTP server)."""

    def __init__(
        self,
        db: Database,
        state: Any,
        *,
        send: Sender = send_email,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.db = db
        self._outcomes = Counter(
            "motcua_notify_deliveries",
            "Delivery attempts of notifications to outside providers, by channel and outcome",
            ["channel", "outcome"],
            registry=registry,
        )
        self.state = state
        self.send = send
        self.owner = uuid4().hex
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def wake_after_commit(self, session: AsyncSession) -> None:
        """Wake the courier once ``session``'s transaction has committed, and not before."""
        event.listen(session.sync_session, "after_commit", lambda _session: self.wake(), once=True)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="email-courier")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self.deliver_due()
            except Exception:
                logger.exception("email delivery pass failed")
                wait = self.delivery_settings.poll_seconds
            if self._stopping:
                return
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    @property
    def smtp_settings(self) -> SmtpSettings:
        settings: SmtpSettings = self.state.smtp
        return settings

    @property
    def delivery_settings(self) -> DeliverySettings:
        settings: DeliverySettings = self.state.delivery
        return settings

    async def deliver_due(self) -> float:
        """Deliver everything due now; returns how long to sleep before looking again."""
        smtp, settings = self.smtp_settings, self.delivery_settings
        if not smtp.enabled:
            return settings.poll_seconds
        while not self._stopping:
            async with self.db.reading() as session:
                due = await delivery.due_for_delivery(
                    session=session, channel=Channel.EMAIL, now=utc_now(), limit=settings.batch_size
                )
            if not due:
                break
            for notification_id in due:
                await self._deliver(notification_id, smtp, settings)
        async with self.db.reading() as session:
            next_at = await delivery.next_due_at(session=session, channel=Channel.EMAIL, now=utc_now())
        if next_at is None:
            return settings.poll_seconds
        return min(settings.poll_seconds, max(0.0, (next_at - utc_now()).total_seconds()))

    async def _deliver(self, notification_id: str, smtp: SmtpSettings, settings: DeliverySettings) -> None:
        async with self.db.session() as session:
            claimed = await delivery.claim(
                session=session,
                notification_id=notification_id,
                owner=self.owner,
                now=utc_now(),
                lease_seconds=settings.lease_seconds,
            )
        if claimed is None:
            return
        # Outside any transaction: an SMTP conversation must never hold a database lock.
        try:
            result = await self.send(claimed, smtp)
        except Exception as exc:
            # A bug or an input the adapter did not foresee: counted as an attempt, so that the
            # bound on retries holds, instead of leaving the row leased and retried for ever.
            logger.exception("email %s: sending failed unexpectedly", notification_id)
            result = AttemptResult(NotificationStatus.TECHNICAL_FAILURE, f"{exc.__class__.__name__}: {exc}")
        async with self.db.session() as session:
            kept = await delivery.record_attempt(
                session=session,
                claimed=claimed,
                owner=self.owner,
                result=result,
                now=utc_now(),
                settings=settings,
            )
        if kept:
            self._outcomes.labels(Channel.EMAIL.value, result.outcome.value).inc()
            logger.info(
                "email %s attempt %d: %s (%s)",
                notification_id,
                claimed.attempt,
                result.outcome.value,
                result.detail,
            )
        else:
            logger.warning(
                "email %s: lease lost before attempt %d was recorded", notification_id, claimed.attempt
            )
