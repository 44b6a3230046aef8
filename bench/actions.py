"""Benchmark of processing's own work per dossier: the CPU of a registration and of each officer action.

Processing runs in this process on a fresh SQLite file or PostgreSQL schema, with nothing to
publish to: its relay is stopped once it has started, so that only the work measured runs. For each
of N birth registrations (``1.001193``) it registers the submission as the ``dossier.submitted``
consumer does (through the inbox), then walks it as the officers of ``bench/lifecycle.py`` do:
accept, forward three times, approve, return the result, each through ``actions.execute`` in a
transaction of its own with the actor read in it, as the HTTP route does, without HTTP. It prints
this process's CPU milliseconds (all its threads, the SQLite driver's included, not the PostgreSQL
server's) per registration and per action, p50 and mean, and per action kind.

Between dossiers it times a fixed pure-Python loop, and divides by its time too
(``per_calibration``): this machine's speed drifts by a third from one minute to the next, and two
runs of different code compare by that ratio much better than by milliseconds.

    python bench/actions.py --database sqlite -n 300
    python bench/actions.py --database postgres -n 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from pipeline import POSTGRES_URL

from services.processing import actions
from services.processing.app import create_app
from services.processing.auth import actor_named
from services.processing.commands import Accept, Approve, Command, Forward, ReturnResult
from shared.bus.outbox import OutboxMessage
from shared.db import drop_schemas
from shared.events import Applicant, DossierSubmitted, utc_now
from shared.runtime import RuntimeSettings
from shared.settings import CommonSettings, NatsSettings, ProcessingDatabaseSettings

# The birth registration's walk, as bench/lifecycle.py's officers make it.
DESK, JUSTICE, LEADERS, CLERKS = "h56-hc-motcua", "h56-hc-tuphap", "h56-hc-ld", "h56-hc-vt"
WALK: tuple[tuple[str, Command, str], ...] = (
    ("accept", Accept(), DESK),
    ("forward", Forward(), DESK),
    ("forward", Forward(), JUSTICE),
    ("forward", Forward(), LEADERS),
    ("approve", Approve.model_validate({"result": {"name": "Giấy khai sinh"}}), CLERKS),
    ("return-result", ReturnResult(), DESK),
)


def _settings(database: str, data_dir: Path, schema: str) -> RuntimeSettings:
    if database == "sqlite":
        db = ProcessingDatabaseSettings(
            database_url=f"sqlite+aiosqlite:///{data_dir}/processing.db", database_schema=None
        )
    else:
        url = os.environ.get("MOTCUA_BENCH_POSTGRES_URL", POSTGRES_URL)
        db = ProcessingDatabaseSettings(database_url=url, database_schema=schema)
    return RuntimeSettings(
        common=CommonSettings(data_dir=data_dir, demo=True),
        nats=NatsSettings(url="nats://127.0.0.1:1"),  # never reached: nothing is published
        database=db,
    )


def _calibration_ms() -> float:
    """The CPU milliseconds of a fixed pure-Python loop, a yardstick of the machine's speed now."""
    began = time.process_time()
    counts: dict[int, int] = {}
    for number in range(20_000):
        counts[number % 97] = counts.get(number % 97, 0) + len(str(number))
    return (time.process_time() - began) * 1000


def _submitted(code: str) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_code=code,
        procedure_code="1.001193",
        procedure_version=1,
        agency_code="000.00.06.H56",
        applicant=Applicant(full_name="Nguyễn Văn An", id_number="049090001234"),
        documents=[],
        channel="online",
        submitted_at=utc_now(),
    )


def _summary(values: list[float], calibration: float) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "mean": round(statistics.mean(values), 3),
        "per_calibration": round(statistics.mean(values) / calibration, 3),
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    logging.disable(logging.INFO)
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-actions-"))
    schema = f"motcua_actions_{uuid4().hex[:10]}"
    app = create_app(_settings(args.database, data_dir, schema))
    runtime = app.state.runtime

    async def nowhere(_message: OutboxMessage) -> None:
        pass

    runtime.use_in_process_bus(nowhere)
    registrations: list[float] = []
    by_kind: dict[str, list[float]] = {}
    calibrations: list[float] = []
    try:
        async with app.router.lifespan_context(app):
            # Only the work measured runs: the relay would publish each change's rows meanwhile.
            await runtime.relay.stop()
            # The first dossiers warm the caches (procedures, units, the calendar): not counted.
            for number in range(args.warmup + args.n):
                counted = number >= args.warmup
                calibrations.append(_calibration_ms())
                code = f"BENCH-{number:06d}-{uuid4().hex[:6]}"
                began = time.process_time()
                await runtime.deliver(_submitted(code))
                if counted:
                    registrations.append((time.process_time() - began) * 1000)
                for kind, command, unit in WALK:
                    began = time.process_time()
                    async with runtime.db.session() as session:
                        actor = await actor_named(session, f"{unit}-officer")
                        await actions.execute(
                            session,
                            runtime.outbox,
                            actor=actor,
                            command=command.model_copy(update={"code": code}),
                        )
                    if counted:
                        by_kind.setdefault(kind, []).append((time.process_time() - began) * 1000)
    finally:
        if args.database == "postgres":
            await drop_schemas(os.environ.get("MOTCUA_BENCH_POSTGRES_URL", POSTGRES_URL), [schema])
        shutil.rmtree(data_dir, ignore_errors=True)
    calibration = statistics.mean(calibrations[args.warmup :])
    every_action = [value for values in by_kind.values() for value in values]
    figures: dict[str, Any] = {
        "database": args.database,
        "dossiers": args.n,
        "calibration_cpu_ms": round(calibration, 3),
        "registration_cpu_ms": _summary(registrations, calibration),
        "action_cpu_ms": _summary(every_action, calibration),
        "action_cpu_ms_by_kind": {
            kind: round(statistics.median(values), 3) for kind, values in by_kind.items()
        },
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-n", type=int, default=300, help="dossiers walked and counted")
    parser.add_argument("--warmup", type=int, default=20, help="dossiers walked first, not counted")
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
