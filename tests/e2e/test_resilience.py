"""Nothing accepted is lost: not when a service is killed mid-message, and not when replicas share
the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.intake.app import create_app as create_intake
from services.processing.app import create_app as create_processing
from services.processing.models import DossierHistory
from services.processing.models import metadata as processing_metadata
from shared.bus.inbox import inbox_table
from shared.db import Database
from shared.nats_server import NatsServer, free_port
from shared.settings import CommonSettings, DatabaseSettings
from tests.conftest import DatabaseSettingsFactory, RuntimeSettingsFactory, eventually
from tests.system import SEED_PROCEDURES, System, submission

SUBMITTED_CONSUMER = "processing__dossier_submitted"


@contextmanager
def processing_process(
    nats_server: NatsServer, database: DatabaseSettings, data_dir: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "MOTCUA_NATS_URL": nats_server.url,
        "MOTCUA_NATS_USER": "processing",
        "MOTCUA_NATS_PASSWORD": nats_server.passwords["processing"],
        "MOTCUA_DEMO": "true",
        "MOTCUA_NATS_ACK_WAIT_SECONDS": "2",
        "MOTCUA_DATA_DIR": str(data_dir),
        "MOTCUA_PROCESSING_DATABASE_URL": database.database_url or "",
    }
    if database.database_schema:
        env["MOTCUA_PROCESSING_DATABASE_SCHEMA"] = database.database_schema
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "processing", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


async def _counts(database: DatabaseSettings, data_dir: Path) -> tuple[int, list[str]]:
    """How many submissions processing recorded in its inbox, and its 'submitted' history rows."""
    db = Database(database.url(CommonSettings(data_dir=data_dir)), schema=database.database_schema)
    inbox = inbox_table(processing_metadata)
    try:
        async with db.reading() as session:
            handled = (
                await session.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.consumer == SUBMITTED_CONSUMER)
                )
            ).scalar_one()
            rows = await session.execute(
                select(DossierHistory.dossier_code).where(DossierHistory.action == "submitted")  # type: ignore[call-overload]
            )
            return int(handled), [str(row[0]) for row in rows]
    finally:
        await db.dispose()


async def submit(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/dossiers", json=submission())
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


async def test_processing_killed_mid_message_registers_every_dossier_once(
    nats_server: NatsServer,
    runtime_settings: RuntimeSettingsFactory,
    database_settings: DatabaseSettingsFactory,
    tmp_path: Path,
) -> None:
    database = database_settings("processing")
    port = free_port()
    intake = create_intake(runtime_settings("intake"))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(intake.router.lifespan_context(intake))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake")
        )
        with processing_process(nats_server, database, tmp_path / "data", port) as first:

            async def catalog_arrived() -> None:
                assert len((await client.get("/api/v1/procedures")).json()) == SEED_PROCEDURES

            await eventually(catalog_arrived, timeout=60)
            codes = [await submit(client) for _ in range(20)]
            # Killed while the submissions stream in: some handled, some in flight, some waiting.
            first.send_signal(signal.SIGKILL)
            first.wait()
        codes += [await submit(client) for _ in range(20)]
        handled_before, _ = await _counts(database, tmp_path / "data")
        assert handled_before <= 20

        with processing_process(nats_server, database, tmp_path / "data", port):

            async def all_registered_once() -> None:
                handled, registered = await _counts(database, tmp_path / "data")
                assert handled == 40
                assert sorted(registered) == sorted(codes)

            await eventually(all_registered_once, timeout=60)


async def test_two_processing_replicas_share_the_work_and_register_each_dossier_once(
    runtime_settings: RuntimeSettingsFactory,
) -> None:
    replicas = [create_processing(runtime_settings("processing")) for _ in range(2)]
    intake = create_intake(runtime_settings("intake"))
    async with AsyncExitStack() as stack:
        for app in (*replicas, intake):
            await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake")
        )

        async def catalog_arrived() -> None:
            assert len((await client.get("/api/v1/procedures")).json()) == SEED_PROCEDURES

        await eventually(catalog_arrived)
        codes = [(await client.post("/api/v1/dossiers", json=submission())).json()["code"] for _ in range(40)]
        officer = System.auth("demo-officer")
        replica_client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replicas[1]), base_url="http://processing")
        )

        async def all_registered() -> None:
            response = await replica_client.get("/api/v1/worklist", params={"limit": 100}, headers=officer)
            assert sorted(row["code"] for row in response.json()) == sorted(codes)

        await eventually(all_registered, timeout=30)
        runtime = replicas[0].state.runtime
        async with runtime.db.reading() as session:
            history = await session.execute(
                select(func.count()).select_from(DossierHistory).where(DossierHistory.action == "submitted")  # type: ignore[arg-type]
            )
            assert history.scalar_one() == 40


async def test_service_started_while_nats_is_down_serves_and_catches_up(
    nats_server: NatsServer, runtime_settings: RuntimeSettingsFactory
) -> None:
    nats_server.stop()
    processing = create_processing(runtime_settings("processing"))
    intake = create_intake(runtime_settings("intake"))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(processing.router.lifespan_context(processing))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=processing), base_url="http://processing")
        )
        assert (await client.get("/healthz")).status_code == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["nats"] == "unavailable"
        catalog = await client.get("/api/v1/procedures")
        assert len(catalog.json()) == SEED_PROCEDURES

        nats_server.start()

        async def ready() -> None:
            assert (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=30)
        # The catalog processing published into its outbox while NATS was away reaches intake.
        await stack.enter_async_context(intake.router.lifespan_context(intake))
        intake_client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake")
        )

        async def catalog_arrived() -> None:
            assert len((await intake_client.get("/api/v1/procedures")).json()) == SEED_PROCEDURES

        await eventually(catalog_arrived, timeout=30)
        code = await submit(intake_client)
        officer = System.auth("demo-officer")

        async def registered() -> None:
            assert (await client.get(f"/api/v1/dossiers/{code}", headers=officer)).status_code == 200

        await eventually(registered)
