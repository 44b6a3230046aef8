"""The whole system in one test process: intake, processing and notify, each a real ASGI app with its
own database, on a nats-server (end-to-end tier) or an in-process bus (service tier), and what the
tests of both tiers do with it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import ASGIApp

from services.intake.app import create_app as create_intake
from services.notify.app import create_app as create_notify
from services.notify.settings import DeliverySettings, SmtpSettings
from services.processing.app import create_app as create_processing
from services.processing.seed import seed_catalog
from shared.auth import issue_citizen_token, issue_token
from shared.bus.in_process import InProcessBus
from shared.events import AlertOverdue, AlertRecipient, Event, utc_now
from shared.runtime import ServiceRuntime
from tests.conftest import RuntimeSettingsFactory, eventually

SEED_PROCEDURES = len(seed_catalog(demo=True))

APPLICANT = {
    "full_name": "Nguyễn Văn An",
    "id_number": "049090001234",
    "phone": "0905123456",
    "email": "an@example.vn",
    "address": "12 Trần Phú, Hải Châu, Đà Nẵng",
}


def submission(procedure_code: str = "1.001193", **applicant: Any) -> dict[str, Any]:
    return {
        "procedure_code": procedure_code,
        "applicant": {**APPLICANT, **applicant},
        "documents": [{"name": "Tờ khai đăng ký khai sinh", "kind": "digital"}],
        "channel": "online",
    }


def citizen_headers(id_number: str = APPLICANT["id_number"]) -> dict[str, str]:
    """A citizen session for ``id_number``, as the one-time code sign-in would open it."""
    token = issue_citizen_token(id_number, secret=os.environ["MOTCUA_JWT_SECRET"])
    return {"Authorization": f"Bearer {token}"}


def overdue_alert(
    code: str, *recipients: str, agency_code: str = "000.00.06.H56", unit_code: str = "H56.HC.MOTCUA"
) -> AlertOverdue:
    """An overdue alert for the reception step of ``code``, addressed to ``recipients`` (officers)."""
    now = utc_now()
    return AlertOverdue(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        level="step",
        step_index=0,
        step_name="Tiếp nhận",
        agency_code=agency_code,
        unit_code=unit_code,
        owner=recipients[0],
        due_at=now - timedelta(minutes=5),
        raised_at=now,
        recipients=[AlertRecipient(username=name, role="officer") for name in recipients],
    )


@dataclass
class System:
    intake: httpx.AsyncClient
    processing: httpx.AsyncClient
    notify: httpx.AsyncClient
    apps: dict[str, FastAPI]
    spans: InMemorySpanExporter
    # With ``running_system(served=True)``: each service's base URL on a real local port.
    urls: dict[str, str] = field(default_factory=dict)

    def runtime(self, service: str) -> ServiceRuntime:
        runtime: ServiceRuntime = self.apps[service].state.runtime
        return runtime

    @staticmethod
    def auth(username: str) -> dict[str, str]:
        token = issue_token(username, secret=os.environ["MOTCUA_JWT_SECRET"])
        return {"Authorization": f"Bearer {token}"}

    async def notifications(
        self, headers: dict[str, str], *, channel: str | None = None
    ) -> list[dict[str, Any]]:
        """The caller's own notifications from notify, newest first, on ``channel`` when given."""
        response = await self.notify.get("/api/v1/notifications", headers=headers)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return [row for row in rows if channel is None or row["channel"] == channel]

    async def publish(self, service: str, *events: Event) -> None:
        """Write events to a service's outbox, as that service would."""
        runtime = self.runtime(service)
        async with runtime.db.session() as session:
            await runtime.outbox.add(session, *events)

    async def submit(self, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        response = await self.intake.post("/api/v1/dossiers", json=body or submission(), headers=headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def registered(self, code: str) -> dict[str, Any]:
        """Wait until processing has registered the dossier, and return processing's view of it."""

        async def check() -> dict[str, Any]:
            response = await self.processing.get(f"/api/v1/dossiers/{code}", headers=self.auth("demo-admin"))
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        return await eventually(check)


# A dossier code of the demo ward: its agency, the day (yyMMdd) and the number of that day.
CODE = re.compile(r"^000\.00\.06\.H56-\d{6}-\d{4}$")


async def notifications_for(system: System, recipient: str, count: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        rows = await system.notifications(citizen_headers(recipient), channel="inbox")
        assert len(rows) >= count
        return rows

    return await eventually(check)


# The command line as an operator runs it, in a process of its own.
def motcua(
    *args: str, env: dict[str, str], timeout: float = 60, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={name: value for name, value in {**os.environ, **env}.items() if name not in unset},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


DEMO_STAFF = ("demo-officer", "demo-manager", "demo-leader", "demo-admin")


@contextlib.asynccontextmanager
async def running_system(
    runtime_settings: RuntimeSettingsFactory, *, bus: InProcessBus | None = None, served: bool = False
) -> AsyncIterator[System]:
    """The three services running, each with its own database, on the test's nats-server or, with
    ``bus``, on an in-process bus; once the catalog and the directory have reached the others.
    ``served`` also puts each behind uvicorn on a free local port (``System.urls``), for a browser."""
    spans = InMemorySpanExporter()
    processors = (SimpleSpanProcessor(spans),)
    # The consumers of processing's catalog and directory start first, so that on the in-process
    # bus those arrive at once rather than on the relay's next pass.
    apps = {
        "intake": create_intake(runtime_settings("intake"), span_processors=processors),
        "notify": create_notify(runtime_settings("notify"), span_processors=processors),
        "processing": create_processing(runtime_settings("processing"), span_processors=processors),
    }
    if bus is not None:
        bus.attach(*(app.state.runtime for app in apps.values()))
    async with AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        urls = (
            {name: await stack.enter_async_context(serving(app)) for name, app in apps.items()}
            if served
            else {}
        )
        result = System(
            intake=clients["intake"],
            processing=clients["processing"],
            notify=clients["notify"],
            apps=apps,
            spans=spans,
            urls=urls,
        )

        async def catalog_reached_intake() -> None:
            response = await result.intake.get("/api/v1/procedures")
            assert len(response.json()) == SEED_PROCEDURES

        async def directory_reached_notify() -> None:
            for username in DEMO_STAFF:
                response = await result.notify.get("/api/v1/inbox", headers=System.auth(username))
                assert response.status_code == 200, f"notify does not know {username} yet"

        await eventually(catalog_reached_intake)
        # Tests act as the demo staff on notify at once, and some then change them: processing's own
        # publication of each must be in first.
        await eventually(directory_reached_notify)
        yield result


class Mailbox:
    """An SMTP handler that keeps what it receives, or answers every recipient with ``refuse_with``;
    a slow provider takes ``data_delay`` seconds to accept each message."""

    def __init__(self, refuse_with: str | None = None, *, data_delay: float = 0.0) -> None:
        self.refuse_with = refuse_with
        self.data_delay = data_delay
        self.messages: list[EmailMessage] = []
        self.recipient_attempts = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.recipient_attempts += 1
        if self.refuse_with is not None:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd serves on a loop of its own: the wait holds up this conversation only.
        await asyncio.sleep(self.data_delay)
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_serving(mailbox: Mailbox) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) on a free local port delivering to ``mailbox``; yields the port."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox(getattr(request, "param", None))
    with smtp_serving(mailbox) as port:
        yield mailbox, port


def use_smtp(system: System, port: int, *, max_attempts: int = 5) -> None:
    state = system.apps["notify"].state
    state.smtp = SmtpSettings(
        enabled=True,
        host="127.0.0.1",
        port=port,
        from_address="motcua@demo.motcua.vn",
        start_tls=False,
        allow_plaintext=True,
    )
    state.delivery = DeliverySettings(max_attempts=max_attempts, backoff_seconds=[0.2, 0.4], poll_seconds=0.5)


async def accept_a_dossier(system: System) -> str:
    """Submit the sample dossier and accept it as the demo officer; returns its code."""
    code: str = (await system.submit())["code"]
    await system.registered(code)
    accepted = await system.processing.post(
        f"/api/v1/dossiers/{code}/accept", json={}, headers=system.auth("demo-officer")
    )
    assert accepted.status_code == 200, accepted.text
    return code


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` behind a real uvicorn server on a free local port, for a provider the system talks to
    over HTTP; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    def started() -> None:
        assert server.started

    try:
        await eventually(started, timeout=5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=5)
