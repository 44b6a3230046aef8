"""Benchmark of processing at scale: N open dossiers in its database (100,000 by default).

Processing runs in this process on an in-process bus, on a fresh SQLite file or PostgreSQL schema.
The dossiers are written straight into its tables, spread over the steps of the birth registration
(``1.001193``), so each of its four units holds a quarter of them (on PostgreSQL the tables are then
analyzed, as autovacuum would). Then it measures:

- an officer's worklist, through the HTTP app (in process, so without the network): p50 and p99
  over pages from the first to the hundredth, plain and with the ``near_due`` filter;
- the SLA reconciliation over every open dossier: first with nothing armed (every dossier is armed
  again, as after a lost SLA stream), then with everything armed (a restart), when only the check
  runs. The read of the SLA stream's headers, which happens on NATS before the check, is not in it
  (``bench/sla_timers.py --arm 800000 --read --fire 0`` times that for 100,000 dossiers' timers);
- this process's resident memory at the end (the seeding's own rows included).

Each reconciliation reports its wall time (``s``) and this process's CPU time (``cpu_s``).

    python bench/scale.py --database sqlite
    python bench/scale.py --database postgres -n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import uvloop
from pipeline import POSTGRES_URL, percentile
from sqlalchemy import insert, select, text

from services.processing import sla_reconcile
from services.processing.app import create_app
from services.processing.models import Dossier, DossierStep, Unit
from shared.auth import issue_token
from shared.bus.in_process import InProcessBus
from shared.db import drop_schemas
from shared.events import DossierStatus, utc_now
from shared.runtime import RuntimeSettings
from shared.settings import AuthSettings, CommonSettings, NatsSettings, ProcessingDatabaseSettings
from shared.working_time import WorkingCalendar

PROCEDURE = "1.001193"
SEED_CHUNK = 5_000
WORKLIST_REQUESTS = 200


def _postgres_url() -> str:
    return os.environ.get("MOTCUA_BENCH_POSTGRES_URL", POSTGRES_URL)


def _settings(database: str, data_dir: Path, schema: str) -> RuntimeSettings:
    if database == "sqlite":
        db = ProcessingDatabaseSettings(
            database_url=f"sqlite+aiosqlite:///{data_dir}/processing.db", database_schema=None
        )
    else:
        db = ProcessingDatabaseSettings(database_url=_postgres_url(), database_schema=schema)
    return RuntimeSettings(
        common=CommonSettings(data_dir=data_dir, demo=True),
        nats=NatsSettings(url="nats://127.0.0.1:1"),  # never reached: the bus is in process
        database=db,
    )


async def _seed(app: Any, n: int) -> list[str]:
    """``n`` dossiers in progress, each at one of the procedure's first four steps; their units."""
    runtime = app.state.runtime
    async with runtime.db.reading() as session:
        procedure = await session.execute(
            text("SELECT body FROM procedure WHERE code = :c"), {"c": PROCEDURE}
        )
        body = procedure.scalars().first()
        units = {row.code: row.agency_code for row in (await session.execute(select(Unit))).scalars()}
    steps = (body if isinstance(body, dict) else json.loads(body))["steps"][:4]
    calendar = WorkingCalendar()
    now = utc_now()
    for start in range(0, n, SEED_CHUNK):
        dossiers: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for number in range(start, min(start + SEED_CHUNK, n)):
            index = number % len(steps)
            step = steps[index]
            # Submitted over the last 30 days, so deadlines spread from overdue to weeks ahead.
            submitted = now - timedelta(minutes=(number * 26) % (30 * 24 * 60))
            code = f"SCALE-{number:07d}"
            due = calendar.deadline_after(submitted, 40)
            dossiers.append(
                {
                    "code": code,
                    "procedure_code": PROCEDURE,
                    "procedure_version": 1,
                    "agency_code": units[steps[0]["unit_code"]],
                    "current_unit_code": step["unit_code"],
                    "current_agency_code": units[step["unit_code"]],
                    "current_step_index": index,
                    "status": int(DossierStatus.NEW if index == 0 else DossierStatus.PROCESSING),
                    "applicant": {"full_name": "Nguyễn Văn A", "id_number": f"{number:012d}"},
                    "documents": [],
                    "channel": "online",
                    "submitted_at": submitted,
                    "acceptance_due_at": calendar.deadline_after(submitted, 8),
                    "decided_at": submitted,
                    "due_at": due,
                    "revision": 2 + index,
                    "registered_at": submitted,
                    "last_action_at": submitted,
                }
            )
            rows.append(
                {
                    "dossier_code": code,
                    "step_index": index,
                    "name": step["name"],
                    "unit_code": step["unit_code"],
                    "agency_code": units[step["unit_code"]],
                    "allotted_hours": step["hours"],
                    "counted": step.get("counted", True),
                    "started_at": submitted,
                    "due_at": calendar.deadline_after(submitted, step["hours"]),
                    "paused_hours": 0,
                }
            )
        async with runtime.db.session() as session:
            await session.execute(insert(Dossier), dossiers)
            await session.execute(insert(DossierStep), rows)
    if runtime.db.is_postgres:
        # What autovacuum does soon after a load like this one: without statistics the planner
        # takes the freshly filled tables for nearly empty ones, which no real database of this
        # size is, and sorts where it would read an index.
        async with runtime.db.session() as session:
            await session.execute(text("ANALYZE dossier"))
            await session.execute(text("ANALYZE dossier_step"))
    return sorted({step["unit_code"] for step in steps})


async def _worklist(app: Any, unit_code: str) -> dict[str, float]:
    token = issue_token(f"{unit_code.lower().replace('.', '-')}-officer", secret=AuthSettings().secret)
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://processing") as client:
        for request in range(WORKLIST_REQUESTS):
            page = request % 100
            query = f"limit=50&offset={page * 50}" + ("&near_due=true" if request % 4 == 3 else "")
            began = time.perf_counter()
            response = await client.get(f"/api/v1/worklist?{query}", headers=headers)
            times.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"worklist: {response.status_code} {response.text[:200]}")
    return {
        "p50": round(statistics.median(times) * 1000, 1),
        "p99": round(percentile(times, 0.99) * 1000, 1),
    }


async def _armed_from_outbox(app: Any) -> sla_reconcile.ArmedOnBus:
    """What the SLA stream would hold once the relay published every timer in the outbox, read as
    the stream's headers are: a row at a time, never all at once."""
    runtime = app.state.runtime
    table = runtime.outbox.table

    async def timers() -> AsyncIterator[tuple[str, dict[str, str]]]:
        # A connection in a transaction of its own: PostgreSQL streams through a cursor only there.
        async with runtime.db.engine.connect() as connection:
            rows = await connection.stream(
                select(table.c.subject, table.c.headers)
                .where(table.c.subject.like("sla.timer.%"))
                .execution_options(yield_per=SEED_CHUNK)
            )
            async for subject, raw in rows:
                yield subject, json.loads(raw)

    return await sla_reconcile.ArmedOnBus.read(timers())


async def main(args: argparse.Namespace) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-scale-"))
    schema = f"motcua_scale_{uuid4().hex[:10]}"
    settings = _settings(args.database, data_dir, schema)
    os.environ["MOTCUA_DATA_DIR"] = str(data_dir)  # the tokens use this system's secret
    app = create_app(settings)
    bus = InProcessBus()
    bus.attach(app.state.runtime)
    figures: dict[str, object] = {"database": args.database, "open_dossiers": args.n}
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            runtime = app.state.runtime
            began = time.perf_counter()
            units = await _seed(app, args.n)
            figures["seed_s"] = round(time.perf_counter() - began, 1)
            figures["worklist_ms"] = await _worklist(app, units[0])
            # Nothing armed: every open dossier is armed again, through the outbox.
            began, cpu = time.perf_counter(), time.process_time()
            rearmed = await sla_reconcile.reconcile(
                runtime.db, runtime.outbox, armed=sla_reconcile.ArmedOnBus()
            )
            figures["reconcile_nothing_armed"] = _timed(began, cpu, rearmed=rearmed)
            armed = await _armed_from_outbox(app)
            began, cpu = time.perf_counter(), time.process_time()
            rearmed = await sla_reconcile.reconcile(runtime.db, runtime.outbox, armed=armed)
            figures["reconcile_all_armed"] = _timed(began, cpu, rearmed=rearmed)
            figures["rss_mb"] = round(_rss_bytes() / 2**20, 1)
            figures["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    finally:
        if args.database == "postgres":
            await drop_schemas(_postgres_url(), [schema])
        # The SQLite file of 100,000 dossiers and their timers is over half a gigabyte.
        shutil.rmtree(data_dir, ignore_errors=True)
    return figures


def _timed(began: float, cpu: float, *, rearmed: int) -> dict[str, float]:
    """Seconds since ``began``, and this process's CPU seconds since ``cpu`` (all its threads, the
    SQLite driver's included, not the PostgreSQL server's): on a shared machine the wall time grows
    with the others' load, the CPU time much less."""
    return {
        "s": round(time.perf_counter() - began, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "rearmed": rearmed,
    }


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100_000, help="open dossiers to seed")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    print(json.dumps(uvloop.run(main(parser.parse_args()))))
