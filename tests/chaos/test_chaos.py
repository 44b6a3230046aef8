"""Chaos on the production shape: a 3-node NATS cluster with R3 streams and two OS processes of each
service on PostgreSQL. Under a steady stream of birth registrations walked to the returned result,
one NATS node and one replica of each service are killed with SIGKILL and started again; once
everything has drained, nothing accepted is lost and nothing is done twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.nats_server import free_port
from tests.chaos.checks import Findings, collect, progress
from tests.chaos.harness import REPLICAS, SERVICES, START_PATIENCE_SECONDS, Deployment, deployment
from tests.chaos.load import PROCEDURE, Load
from tests.system import Mailbox

DOSSIERS = 300
PER_SECOND = 5.0
CONCURRENCY = 30
# Seconds after the load starts: kill a NATS node, then a replica of each service, then bring all back.
KILL_NATS_AT = 12.0
KILL_SERVICES_AT = 20.0
RESTART_AT = 35.0
NATS_VICTIM = 1
SERVICE_VICTIM = 0
DRAIN_PATIENCE_SECONDS = 120.0
SETTLE_SECONDS = 20.0

pytestmark = pytest.mark.chaos


def smtp_message_ids(mailbox: Mailbox) -> list[str]:
    """Each received Message-ID: ``<{centiseconds}.{sender pid}.{random}.{notification id}@…>``."""
    return [str(message["Message-ID"]) for message in list(mailbox.messages)]


async def start_all(system: Deployment, client: httpx.AsyncClient) -> None:
    """The first replica of each service, then the second: two replicas creating the same tables at
    the same moment is not what this test is about."""
    for replica in range(REPLICAS):
        for service in SERVICES:
            system.replicas[service][replica].start()
        await asyncio.gather(
            *(
                system.replicas[service][replica].wait_ready(client, timeout=START_PATIENCE_SECONDS)
                for service in SERVICES
            )
        )


async def catalog_reached_intake(system: Deployment, client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + START_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        answers = [await client.get(f"{url}/api/v1/procedures/{PROCEDURE}") for url in system.urls("intake")]
        if all(answer.status_code == 200 for answer in answers):
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"procedure {PROCEDURE} never reached intake")


async def sample_connections(engine: AsyncEngine, peak: list[int]) -> None:
    """Until cancelled: the most connections PostgreSQL served at once (all clients of the server),
    in ``peak[0]``. The services' pools share the server with whatever else runs on it."""
    while True:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity"))).scalar_one()
        peak[0] = max(peak[0], int(count))
        await asyncio.sleep(0.5)


async def chaos(system: Deployment, client: httpx.AsyncClient, started: float, log: list[str]) -> float:
    """Kill, then restart; returns the moment everything was started again."""

    async def at(offset: float) -> None:
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))

    await at(KILL_NATS_AT)
    victim = system.nats.nodes[NATS_VICTIM]
    victim.kill()
    log.append(f"{time.monotonic() - started:5.1f}s SIGKILL nats {victim.url}")
    await at(KILL_SERVICES_AT)
    killed = [system.replicas[service][SERVICE_VICTIM] for service in SERVICES]
    for replica in killed:
        replica.kill()
        log.append(f"{time.monotonic() - started:5.1f}s SIGKILL {replica.name} (port {replica.port})")
    await at(RESTART_AT)
    victim.start()
    for replica in killed:
        replica.start()
    restarted = time.monotonic()
    log.append(f"{restarted - started:5.1f}s restarted nats {victim.url} and {[r.name for r in killed]}")
    await asyncio.gather(*(replica.wait_ready(client, timeout=START_PATIENCE_SECONDS) for replica in killed))
    log.append(f"{time.monotonic() - started:5.1f}s restarted replicas ready")
    return restarted


@pytest.mark.timeout(420)
async def test_killing_a_nats_node_and_a_replica_of_each_service_loses_and_duplicates_nothing(
    tmp_path: Path,
    postgres: AsyncEngine,
    postgres_url: str,
    schema_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    test_cpu = sum(os.times()[:2])
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    system = deployment(
        base_dir=tmp_path,
        database_url=postgres_url,
        schema_prefix=schema_prefix,
        jwt_secret=os.environ["MOTCUA_JWT_SECRET"],
        smtp_port=smtp_port,
    )
    timeline: list[str] = []
    peak_connections = [0]
    sampler: asyncio.Task[None] | None = None
    findings = Findings()
    passed = False
    try:
        system.nats.start()
        timeline.append(f"JetStream meta leader {system.nats.wait_for_meta_leader()}")
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=2.0), limits=httpx.Limits(max_connections=100)
        ) as client:
            await start_all(system, client)
            await catalog_reached_intake(system, client)
            load = Load(
                client=client,
                intake=system.urls("intake"),
                processing=system.urls("processing"),
                jwt_secret=os.environ["MOTCUA_JWT_SECRET"],
            )
            started = time.monotonic()
            sampler = asyncio.create_task(sample_connections(postgres, peak_connections))
            chaos_task = asyncio.create_task(chaos(system, client, started, timeline))
            await load.run(dossiers=DOSSIERS, per_second=PER_SECOND, concurrency=CONCURRENCY)
            load_done = time.monotonic()
            timeline.append(f"{load_done - started:5.1f}s load done")
            restarted = await chaos_task

            async def look() -> Findings:
                return await collect(
                    engine=postgres,
                    schemas=system.schemas,
                    record=load.record,
                    smtp_message_ids=smtp_message_ids(mailbox),
                    nats_urls=[node.url_for() for node in system.nats.nodes],
                )

            # Drained: everything checks out, or nothing has moved for SETTLE_SECONDS (longer than
            # any retry delay or ack wait), so that what is still wrong stays wrong. The full check
            # runs only once the cheap counts have stood still for a moment.
            drain_deadline = time.monotonic() + DRAIN_PATIENCE_SECONDS
            last: tuple[int, ...] = ()
            drained = time.monotonic()
            checked = False
            while True:
                counts = (*await progress(engine=postgres, schemas=system.schemas), len(mailbox.messages))
                now = time.monotonic()
                if counts != last:
                    last, drained, checked = counts, now, False
                if now - drained >= 3.0 and not checked:
                    findings = await look()
                    checked = True
                    if findings.ok:
                        break
                if now - drained >= SETTLE_SECONDS or now >= drain_deadline:
                    break
                await asyncio.sleep(1.0)
            # Anything late (a duplicate email, a redelivered event) gets a last chance to show.
            await asyncio.sleep(3.0)
            findings = await look()
            findings.figures.update(
                {
                    "load (s)": round(load_done - started, 1),
                    "drain after the load (s)": round(drained - load_done, 1),
                    "drain after the restarts (s)": round(drained - restarted, 1),
                    "5xx answers (retried on the next replica)": dict(load.record.server_errors),
                    "peak PostgreSQL connections (whole server)": peak_connections[0],
                    "request seconds median/p95/max": load.record.latency_figures(),
                    "CPU seconds of the processes running at the end": {
                        **system.cpu_seconds(),
                        "this test (load, SMTP, checks)": round(sum(os.times()[:2]) - test_cpu, 1),
                    },
                    "load failures": len(load.record.failures),
                }
            )
            for failure in load.record.failures:
                findings.add_other("requests the load gave up on", [failure])
            passed = findings.ok
    finally:
        if sampler is not None:
            sampler.cancel()
        system.stop()
        smtp.stop()
        with capsys.disabled():
            print("\nchaos timeline:\n  " + "\n  ".join(timeline))
            print("chaos figures:\n" + findings.report())
            if not passed:
                print(f"\nservice logs in {system.log_dir}\n{system.tails()}")
    assert passed, findings.report()
