"""Event handlers: thin adapters from the bus to the notify service functions. Each names what it
needs (``session``, ``event``, ``messaging``), and the runtime passes it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.channels.courier import Couriers
from services.notify.inbox.live import InboxFeed
from services.notify.messages.notifications import Notifying
from services.notify.messages.one_time_codes import store_code
from services.notify.messages.rendering import TemplateRenderer
from services.notify.models import Alert, AlertPublic, Channel
from services.notify.settings import WebhookSettings
from services.notify.staff.alerts import record_alert, record_end, recording_ends
from services.notify.staff.directory import record_person
from shared.events import (
    CITIZEN_NOTICES,
    SLA_ALERTS,
    CitizenNotice,
    CitizenOneTimeCodeIssued,
    DirectoryPersonChanged,
    DossierRefused,
    DossierResolved,
    DossierResultReturned,
    DossierStepAssigned,
    DossierStepCompleted,
    DossierWithdrawn,
    Event,
    SlaAlert,
)
from shared.runtime import ServiceRuntime

logger = logging.getLogger(__name__)

# After these nothing is left to do on the dossier, so its alerts are resolved.
CLOSING_NOTICES: tuple[type[CitizenNotice], ...] = (
    DossierRefused,
    DossierWithdrawn,
    DossierResolved,
    DossierResultReturned,
)


def ended_at(event: CitizenNotice) -> datetime:
    """When processing ended the dossier, as the closing notice says."""
    if isinstance(event, DossierRefused):
        return event.refused_at
    if isinstance(event, DossierWithdrawn):
        return event.withdrawn_at
    if isinstance(event, DossierResolved):
        return event.resolved_at
    if isinstance(event, DossierResultReturned):
        return event.returned_at
    return event.occurred_at


_NOTIFYING = "notify.handlers.notifying"
_ALERTED = "notify.handlers.alerted"


@dataclass(frozen=True)
class Messaging:
    """What turning events into notifications needs: the wording, the portals' webhooks, the
    couriers to wake after commit, and the live feed (the inbox's, and the alerts')."""

    renderer: TemplateRenderer
    webhooks: Callable[[], WebhookSettings]
    couriers: Couriers
    feed: InboxFeed

    @asynccontextmanager
    async def notifying_and_ending(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> AsyncIterator[None]:
        """``notifying``, with the ends of dossiers the events close recorded together."""
        async with self.notifying(session, events), self.ending(session, events):
            yield

    @asynccontextmanager
    async def ending(self, session: AsyncSession, events: Sequence[Event]) -> AsyncIterator[None]:
        """``recording_ends``, with the alerts the ends resolve pushed to the live feed."""
        async with recording_ends(session, events, resolved=partial(self.alerts_changed, session)):
            yield

    def alerts_changed(self, session: AsyncSession, changed: Sequence[Alert]) -> None:
        """Push the alerts stored or changed to the streams of those in their scope once the
        transaction commits, as ``GET /api/v1/alerts`` shows them."""
        messages = [AlertPublic.model_validate(alert).model_dump(mode="json") for alert in changed]
        self.feed.broadcast_after_commit(session, messages)

    @asynccontextmanager
    async def notifying(self, session: AsyncSession, events: Sequence[Event]) -> AsyncIterator[None]:
        """The scope of a transaction's events (see ``ServiceRuntime.handle``): what ``deliver``
        words for them is stored once the last is handled, with one statement."""
        batch = session.info[_NOTIFYING] = Notifying(self.renderer, self.webhooks().endpoints)
        alerted: list[Alert] = []
        session.info[_ALERTED] = alerted
        try:
            yield
            stored = await batch.store(session)
        finally:
            del session.info[_NOTIFYING], session.info[_ALERTED]
        self.alerts_changed(session, alerted)
        self.couriers.wake_after_commit(session, {Channel(item.channel) for item in stored})
        # The new inbox rows go to the live feed once they are committed.
        inbox = [item for item in stored if item.channel == Channel.INBOX]
        pushed = [(item.recipient, item.model_dump(mode="json")) for item in inbox]
        self.feed.publish_after_commit(session, pushed)
        for event in events:
            count = sum(item.event_id == str(event.event_id) for item in stored)
            logger.info("%s %s: %d notification(s) stored", event.type, event.dossier_code, count)

    async def deliver(self, session: AsyncSession, event: Event) -> None:
        """Word the notifications of ``event``, stored with the rest of the transaction's."""
        batch: Notifying = session.info[_NOTIFYING]
        await batch.add(session, event)

    def alerted(self, session: AsyncSession, alert: Alert) -> None:
        """A new alert, pushed with the rest of the transaction's (see ``notifying``)."""
        alerts: list[Alert] = session.info[_ALERTED]
        alerts.append(alert)


async def on_citizen_notice(session: AsyncSession, event: CitizenNotice, messaging: Messaging) -> None:
    await messaging.deliver(session, event)
    if isinstance(event, CLOSING_NOTICES):
        code, revision = event.dossier_code, event.version
        await record_end(session=session, dossier_code=code, revision=revision, ended_at=ended_at(event))


async def on_step_assigned(session: AsyncSession, event: DossierStepAssigned, messaging: Messaging) -> None:
    """Tell the officer, or the unit's officers, that a step is waiting for them."""
    await messaging.deliver(session, event)


async def on_step_completed(session: AsyncSession, event: DossierStepCompleted) -> None:
    """A finished step leaves its alerts nothing to act on."""
    await record_end(
        session=session,
        dossier_code=event.dossier_code,
        step_index=event.step_index,
        revision=event.version,
        ended_at=event.completed_at,
    )


async def on_alert(session: AsyncSession, event: SlaAlert, messaging: Messaging) -> None:
    """Keep the alert for the managers' list and their boards' live feed, and tell each recipient
    in their inbox."""
    stored = await record_alert(session=session, event=event)
    if stored is not None:
        messaging.alerted(session, stored)
    await messaging.deliver(session, event)


async def on_person_changed(session: AsyncSession, event: DirectoryPersonChanged) -> None:
    await record_person(session=session, event=event)


async def on_one_time_code(
    session: AsyncSession, event: CitizenOneTimeCodeIssued, messaging: Messaging
) -> None:
    created = await store_code(session=session, event=event)
    if created is not None:
        messaging.couriers.wake_after_commit(session, {created.channel})


# The dossier events come through one durable (a group): what waits while a batch is handled comes
# as the next batch, of every type together, in one transaction (one inbox statement, one commit).
# A durable per event type handled most events alone under load (bench/lifecycle.py). Two loops
# fetch from it, as intake's do (``services.intake.handlers``). Alerts and ends take turns per
# dossier and end the same whatever order they arrive in (``staff.alerts``).
DOSSIER_EVENTS = "dossier"
DOSSIER_CONCURRENCY = 2


def register_handlers(
    runtime: ServiceRuntime,
    *,
    couriers: Couriers,
    webhooks: Callable[[], WebhookSettings] = WebhookSettings,
    feed: InboxFeed | None = None,
    renderer: TemplateRenderer | None = None,
) -> None:
    messaging = Messaging(
        renderer=renderer or TemplateRenderer(),
        webhooks=webhooks,
        couriers=couriers,
        feed=feed or InboxFeed(),
    )
    runtime.provide(messaging=messaging)
    # Each event's notifications and the ends it records, stored together once a batch is handled.
    dossier_events = partial(
        runtime.handle,
        group=DOSSIER_EVENTS,
        concurrency=DOSSIER_CONCURRENCY,
        scope=messaging.notifying_and_ending,
    )
    for notice in CITIZEN_NOTICES:
        dossier_events(notice, on_citizen_notice)
    dossier_events(DossierStepAssigned, on_step_assigned)
    dossier_events(DossierStepCompleted, on_step_completed)
    for alert in SLA_ALERTS:
        runtime.handle(alert, on_alert, scope=messaging.notifying)
    runtime.handle(DirectoryPersonChanged, on_person_changed)
    runtime.handle(CitizenOneTimeCodeIssued, on_one_time_code)
