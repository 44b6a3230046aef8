"""Dossier events for portals: each matching webhook endpoint gets the event as a signed POST (to a
real receiver on a local socket that checks the signature), retried with the same delivery id until
the portal confirms it, and given up on once the endpoint is no longer configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.channels.webhook import verify
from services.notify.messages import notifications
from services.notify.models import Notification
from services.notify.settings import DeliverySettings, WebhookEndpoint, WebhookSettings
from shared.events import utc_now
from tests.conftest import eventually
from tests.system import System, accept_a_dossier, serving

SECRET = "portal-shared-secret-0123456789"
PORTAL = "dvcqg"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool


class Portal:
    """A receiving portal: checks each request's signature with ``secret`` (401 when it is wrong),
    then answers with the next of ``answers``, 200 once they run out."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.answers: list[int] = []
        self.received: list[Received] = []
        self.url = ""

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        signed = verify(
            self.secret,
            request.headers.get("x-motcua-timestamp", ""),
            body,
            request.headers.get("x-motcua-signature", ""),
            now=utc_now(),
        )
        self.received.append(Received(dict(request.headers), body, signed))
        if not signed:
            return Response("bad signature", status_code=401)
        return Response(status_code=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    found = Portal()
    async with serving(Starlette(routes=[Route("/events", found.receive, methods=["POST"])])) as base_url:
        found.url = f"{base_url}/events"
        yield found


def use_webhooks(system: System, *endpoints: WebhookEndpoint, backoff: float = 0.2) -> None:
    state = system.apps["notify"].state
    state.webhook = WebhookSettings(endpoints=list(endpoints))
    state.delivery = DeliverySettings(max_attempts=3, backoff_seconds=[backoff], poll_seconds=0.2)


def endpoint(
    url: str, *, name: str = PORTAL, secret: str = SECRET, events: str = "dossier.accepted"
) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate({"name": name, "url": url, "secret": secret, "events": [events]})


async def webhook_notification(system: System, *, settled: bool = True) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        # Webhook rows carry whole events: never listed over HTTP, so read where notify keeps them.
        async with system.runtime("notify").db.reading() as session:
            rows = (await session.exec(select(Notification).where(Notification.recipient == PORTAL))).all()
            assert len(rows) == 1, rows
            [row] = rows
            history = await notifications.delivery_history(session=session, notification_id=row.id)
        found: dict[str, Any] = {
            **row.model_dump(mode="json"),
            "delivery_attempts": [attempt.model_dump(mode="json") for attempt in history],
        }
        assert found["channel"] == "webhook"
        listed = await system.notifications(System.auth("demo-admin"))
        assert all(shown["channel"] != "webhook" for shown in listed)
        if settled:
            assert found["status"] != "pending" and found["next_attempt_at"] is None, found
        return found

    return await eventually(check, timeout=30)


async def test_accepting_a_dossier_posts_the_signed_event_to_the_portal(
    system: System, portal: Portal
) -> None:
    use_webhooks(system, endpoint(portal.url))

    code = await accept_a_dossier(system)
    notification = await webhook_notification(system)

    assert notification["status"] == "delivered" and notification["delivered_at"] is not None
    assert notification["event_type"] == "dossier.accepted" and notification["subject"] == "dossier.accepted"
    [attempt] = notification["delivery_attempts"]
    assert attempt["outcome"] == "delivered" and attempt["detail"].startswith("200")
    [request] = portal.received
    assert request.signed
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-motcua-event"] == "dossier.accepted"
    assert request.headers["x-motcua-delivery"] == notification["id"]
    event = json.loads(request.body)
    assert event["type"] == "dossier.accepted" and event["dossier_code"] == code
    assert event["applicant"]["id_number"] and event["due_at"]
    assert request.body == notification["body"].encode()


async def test_a_failing_portal_gets_the_event_again_with_the_same_delivery_id(
    system: System, portal: Portal
) -> None:
    portal.answers = [500]
    use_webhooks(system, endpoint(portal.url))

    await accept_a_dossier(system)
    notification = await webhook_notification(system)

    assert notification["status"] == "delivered"
    outcomes = [attempt["outcome"] for attempt in notification["delivery_attempts"]]
    assert outcomes == ["temporary-failure", "delivered"]
    assert notification["delivery_attempts"][0]["detail"].startswith("500")
    first, second = portal.received
    assert first.signed and second.signed
    assert first.headers["x-motcua-delivery"] == second.headers["x-motcua-delivery"] == notification["id"]
    assert first.body == second.body


async def test_a_portal_with_another_secret_refuses_the_event_for_good(
    system: System, portal: Portal
) -> None:
    use_webhooks(system, endpoint(portal.url, secret="not-the-portal-secret-0123"))

    await accept_a_dossier(system)
    notification = await webhook_notification(system)

    assert notification["status"] == "permanent-failure" and notification["delivered_at"] is None
    [attempt] = notification["delivery_attempts"]
    assert attempt["detail"].startswith("401 bad signature")
    [request] = portal.received
    assert not request.signed


async def test_an_endpoint_removed_from_the_settings_fails_permanently(
    system: System, portal: Portal
) -> None:
    portal.answers = [503]
    use_webhooks(system, endpoint(portal.url), backoff=1.5)
    await accept_a_dossier(system)

    async def first_attempt_failed() -> None:
        pending = await webhook_notification(system, settled=False)
        assert [attempt["outcome"] for attempt in pending["delivery_attempts"]] == ["temporary-failure"]

    await eventually(first_attempt_failed)
    # Another endpoint stays, so that the channel is still switched on.
    other = endpoint(portal.url, name="other-portal", events="alert.*")
    system.apps["notify"].state.webhook = WebhookSettings(endpoints=[other])
    notification = await webhook_notification(system)

    assert notification["status"] == "permanent-failure"
    last = notification["delivery_attempts"][-1]
    assert last["attempt"] == 2 and last["outcome"] == "permanent-failure"
    assert f"{PORTAL!r} is no longer configured" in last["detail"]
    assert len(portal.received) == 1
