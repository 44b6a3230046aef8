"""Benchmark of SLA alerts through processing's own SLA handler, with many dossiers open.

Processing runs in this process (its real app: start-up hooks, outbox relay, NATS consumers) against
a nats-server of its own and SQLite, or PostgreSQL in a fresh schema with ``--database postgres``.

1. Arming. N dossiers are registered and then accepted through processing's service functions
   (``citizen_requests.register``, ``actions.execute``), one transaction per accept as the HTTP API does;
   accepting arms each dossier's timers through the outbox (``sla.arm``) and the relay publishes them.
   N - F dossiers follow a procedure whose timers all lie hours away; they are accepted first, as fast
   as processing takes them. The last F follow a 24/7 procedure whose reception step lasts
   ``--reception-minutes`` (deadlines count in whole minutes), with escalation rungs 5 s and 10 s past
   due; they are accepted evenly over ``--spread`` seconds, so their deadlines spread likewise, and each
   raises four alerts during the run: near due, overdue, and escalation rungs 1 and 2. Time to arm:
   from the first accept of a set until the outbox has nothing left to publish.
2. Firing. A listener in a process of its own subscribes to ``alert.>`` on the ALERT stream. An
   alert's planned moment is the ``fire_at`` of the timer that ``sla.plan()`` computes for the
   dossier's state when it was armed (the very computation that armed it): near due is the step's
   ``due_at`` less 20 % of its allotment (or 4 working hours, whichever is less), overdue is the
   step's ``due_at``, escalation rung r is ``due_at`` plus the procedure's ``escalation_hours[r-1]``,
   stalled is the last action plus ``stall_hours``. Figures, each against the planned moment:
   ``received`` (the listener's clock on arrival), ``stored`` (the ALERT stream's timestamp of the
   alert) and ``raised`` (the alert's own ``raised_at``, stamped by processing's handler). Deadlines
   count in whole minutes, so many timers share one moment: ``alerts_per_moment_max`` is the largest
   such burst, and ``handler_ms_per_alert_in_a_burst_p50`` how far apart processing raises its alerts.
3. Check. With all N dossiers still open and their timers armed (or fired), time the periodic
   pass: reading what the SLA stream holds (``sla_reconcile.read_armed``) and comparing it with
   every open dossier's plan (``sla_reconcile.reconcile(db, outbox, armed=…)``); ``re_armed``
   should be 0.
4. Reconcile. With the relay stopped, time ``sla_reconcile.reconcile(db, outbox)`` re-arming every
   open dossier (what a pass does when it cannot tell what is armed); then start the relay and time
   until the outbox has nothing left to publish. Any alert raised again after this counts as
   ``re_raised``.

Prints JSON. A benchmark, not a test:

    python bench/sla_alerts.py --dossiers 10000 --fire 1000
    python bench/sla_alerts.py --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from sqlalchemy import func
from sqlmodel import col
from sqlmodel import select as sql_select

from services.processing import actions, citizen_requests, sla, sla_reconcile
from services.processing.app import create_app
from services.processing.catalog import ProcedureDraft, procedure_of, publish_procedure
from services.processing.commands import Accept
from services.processing.models import Dossier, DossierStep
from services.processing.working_calendar import calendar_of
from shared.bus.streams import ALERT
from shared.db import drop_schemas
from shared.events import (
    Applicant,
    DocumentRef,
    DossierSubmitted,
    ProcedureStep,
    SlaAlert,
    TimeLimit,
    parse_event,
    utc_now,
)
from shared.nats_server import NatsServer
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import AuthSettings, CommonSettings, NatsSettings, ProcessingDatabaseSettings
from shared.staff import Staff

# The ward and desk the demo officer works at (services/processing/seed/directory.toml).
DEMO_AGENCY = "000.00.06.H56"
DEMO_RECEIVING_UNIT = "H56.HC.MOTCUA"

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
OFFICER = Staff(
    username="demo-officer", role="officer", agency_code=DEMO_AGENCY, unit_code=DEMO_RECEIVING_UNIT
)
HOUR = 3600.0
FAR_HOURS = 24.0
ESCALATION_SECONDS = (5.0, 10.0)
# Alert type → the timer kind that raises it.
TIMER_KIND = {
    "alert.near_due": "near_due",
    "alert.overdue": "due",
    "alert.escalated": "escalation",
    "alert.stalled": "stalled",
}
ALERTS_PER_FIRING_DOSSIER = 4
READY = "ready"
SCRIPT = Path(__file__).resolve()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def summary_ms(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "p50": round(statistics.median(values) * 1000),
        "p99": round(percentile(values, 0.99) * 1000),
        "max": round(max(values) * 1000),
        "min": round(min(values) * 1000),
    }


# -- the listener: a process of its own, so that processing's work never delays its clock -----------
async def listen(url: str) -> None:
    connection = await nats.connect(url)
    js = connection.jetstream()

    async def on_alert(msg: Msg) -> None:
        received = time.time()
        line = {
            "received": received,
            "stored": msg.metadata.timestamp.timestamp(),
            "data": msg.data.decode(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await msg.ack()

    await js.subscribe(
        "alert.>", stream=ALERT.name, cb=on_alert, manual_ack=True, deliver_policy=DeliverPolicy.NEW
    )
    print(READY, flush=True)
    # Runs until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await connection.close()


@dataclass
class Received:
    alert: SlaAlert
    received: datetime
    stored: datetime


@dataclass
class Listener:
    process: asyncio.subprocess.Process
    alerts: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            event = parse_event(line["data"])
            assert isinstance(event, SlaAlert)
            self.alerts.append(
                Received(
                    alert=event,
                    received=datetime.fromtimestamp(line["received"], UTC),
                    stored=datetime.fromtimestamp(line["stored"], UTC),
                )
            )
            self.arrived.set()

    async def wait_for(self, count: int, *, until: float) -> None:
        """Until ``count`` alerts have arrived, or the monotonic clock passes ``until``."""
        while len(self.alerts) < count and time.monotonic() < until:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(until - time.monotonic(), 0)):
                    await self.arrived.wait()


@contextlib.asynccontextmanager
async def started_listener(url: str) -> AsyncIterator[Listener]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--listen",
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SCRIPT.parents[1])},
    )
    assert process.stdout is not None and process.stdin is not None
    first = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    if first.decode().strip() != READY:
        process.kill()
        raise RuntimeError(f"the alert listener did not start: {first!r}")
    listener = Listener(process)
    listener.task = asyncio.create_task(listener._read())
    try:
        yield listener
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        await listener.task


# -- processing -----------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def started_processing(
    nats_url: str, data_dir: Path, database: str
) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    """Processing's real app with its lifespan; yields its runtime and a description of its database."""
    schema: str | None = None
    if database == "postgres":
        url = os.environ.get("MOTCUA_BENCH_POSTGRES_URL", POSTGRES_URL)
        schema = f"bench_sla_{uuid.uuid4().hex[:10]}"
        database_settings = ProcessingDatabaseSettings(database_url=url, database_schema=schema)
    else:
        url = f"sqlite+aiosqlite:///{data_dir / 'processing.db'}"
        database_settings = ProcessingDatabaseSettings(database_url=url, database_schema=None)
    settings = RuntimeSettings(
        common=CommonSettings(data_dir=data_dir, demo=True),
        nats=NatsSettings(url=nats_url),
        database=database_settings,
    )
    app = create_app(settings, auth=AuthSettings(jwt_secret=uuid.uuid4().hex))
    try:
        async with app.router.lifespan_context(app):
            runtime: ServiceRuntime = app.state.runtime
            checks = await runtime.readiness()
            if any(value != "ok" for value in checks.values()):
                raise RuntimeError(f"processing is not ready: {checks}")
            yield runtime, "postgres" if schema else "sqlite"
    finally:
        if schema is not None:
            await drop_schemas(url, [schema])


def draft(
    code: str, reception_seconds: float, *, escalation_seconds: Iterable[float] | None
) -> ProcedureDraft:
    """A 24/7 procedure: reception for ``reception_seconds``, then a day of processing, so that the
    dossier's own deadline and its stalled timer (a day) stay far out."""
    reception_hours = reception_seconds / HOUR
    return ProcedureDraft(
        code=code,
        name=f"Benchmark {code}",
        field="Benchmark",
        agency_code=DEMO_AGENCY,
        level="full",
        time_limit=TimeLimit(value=(reception_hours + FAR_HOURS) * 60, unit="minute"),
        steps=[
            ProcedureStep(name="Tiếp nhận", unit_code=DEMO_RECEIVING_UNIT, hours=reception_hours),
            ProcedureStep(name="Xử lý", unit_code="H56.HC.TUPHAP", hours=FAR_HOURS),
            ProcedureStep(name="Trả kết quả", unit_code=DEMO_RECEIVING_UNIT, hours=0, counted=False),
        ],
        stall_hours=FAR_HOURS,
        escalation_hours=[seconds / HOUR for seconds in escalation_seconds]
        if escalation_seconds is not None
        else [4.0, 8.0],
    )


async def publish_procedures(runtime: ServiceRuntime, *, reception_minutes: int) -> tuple[int, int]:
    """The versions of the far procedure and of the firing one."""
    async with runtime.db.session() as session:
        far, _ = await publish_procedure(
            session,
            runtime.outbox,
            draft=draft("BENCH-SLA-FAR", FAR_HOURS * HOUR, escalation_seconds=None),
            published_by="demo-admin",
        )
        firing, _ = await publish_procedure(
            session,
            runtime.outbox,
            draft=draft("BENCH-SLA-FIRE", reception_minutes * 60.0, escalation_seconds=ESCALATION_SECONDS),
            published_by="demo-admin",
        )
    return far.version, firing.version


def submitted(code: str, number: int, procedure_code: str, version: int) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_code=code,
        procedure_code=procedure_code,
        procedure_version=version,
        agency_code=DEMO_AGENCY,
        applicant=Applicant(
            full_name=f"Công dân {number}", id_number=f"001090{number:06d}", phone="0905123456"
        ),
        documents=[DocumentRef(name="Đơn đề nghị")],
        channel="online",
        submitted_at=utc_now(),
    )


async def register(runtime: ServiceRuntime, events: list[DossierSubmitted], *, batch: int = 500) -> None:
    for start in range(0, len(events), batch):
        async with runtime.db.session() as session:
            for event in events[start : start + batch]:
                await citizen_requests.register(session, event=event)


async def pending(runtime: ServiceRuntime) -> int:
    async with runtime.db.reading() as session:
        return await runtime.outbox.pending_count(session)


async def outbox_rows(runtime: ServiceRuntime) -> int:
    async with runtime.db.reading() as session:
        statement = sql_select(func.count()).select_from(runtime.outbox.table)
        return int((await session.exec(statement)).one())


async def drained(runtime: ServiceRuntime, *, poll: float = 0.1) -> None:
    while True:
        if await pending(runtime) == 0:
            return
        await asyncio.sleep(poll)


async def accept_and_arm(
    runtime: ServiceRuntime, codes: list[str], *, concurrency: int, spread: float = 0.0
) -> dict[str, float]:
    """Accept every dossier, one transaction each, the n-th no earlier than ``spread * n / len(codes)``
    seconds in; seconds until all committed, and until all the outbox rows written meanwhile (the
    timers, and any alert raised) were published."""
    rows_before = await outbox_rows(runtime)
    semaphore = asyncio.Semaphore(concurrency)
    began = time.perf_counter()

    async def accept(number: int, code: str) -> None:
        await asyncio.sleep(max(began + spread * number / len(codes) - time.perf_counter(), 0))
        async with semaphore, runtime.db.session() as session:
            await actions.execute(session, runtime.outbox, actor=OFFICER, command=Accept(code=code))

    await asyncio.gather(*(accept(number, code) for number, code in enumerate(codes)))
    accepted = time.perf_counter() - began
    await drained(runtime)
    published = time.perf_counter() - began
    return {
        "dossiers": len(codes),
        "accept_seconds": round(accepted, 2),
        "armed_seconds": round(published, 2),
        "dossiers_armed_per_second": round(len(codes) / published, 1),
        "outbox_rows": await outbox_rows(runtime) - rows_before,
    }


async def planned_moments(runtime: ServiceRuntime, codes: set[str]) -> dict[tuple[Any, ...], datetime]:
    """Each timer of the dossiers as ``sla.plan()`` computes it for their state, keyed by what an alert
    names: (dossier, level, step, kind, rung). Firing changes no dossier, so this is what was armed."""
    moments: dict[tuple[Any, ...], datetime] = {}
    async with runtime.db.reading() as session:
        rows = (await session.exec(sql_select(Dossier).where(col(Dossier.code).in_(codes)))).all()
        for dossier in rows:
            step = (
                await session.exec(
                    sql_select(DossierStep).where(
                        DossierStep.dossier_code == dossier.code,
                        DossierStep.step_index == dossier.current_step_index,
                    )
                )
            ).first()
            procedure = await procedure_of(session, dossier)
            calendar = await calendar_of(session, procedure)
            assert dossier.last_action_at is not None
            for timer in sla.plan(
                dossier=dossier, step=step, procedure=procedure, calendar=calendar, now=dossier.last_action_at
            ):
                moments[(dossier.code, timer.level, timer.step_index, timer.kind, timer.rung)] = timer.fire_at
    return moments


def alert_figures(
    alerts: list[Received], moments: dict[tuple[Any, ...], datetime], armed_at: datetime
) -> dict[str, Any]:
    def empty() -> dict[str, list[float]]:
        return {
            "received": [],
            "stored": [],
            "raised": [],
        }

    overall = empty()
    by_type: dict[str, dict[str, list[float]]] = {}
    unmatched = 0
    due_mismatch = 0
    planned_all: list[datetime] = []
    # Timers sharing a moment reach the handler together: how far apart it raises their alerts shows
    # what one alert costs it.
    raised_by_moment: dict[datetime, list[datetime]] = {}
    for item in alerts:
        alert = item.alert
        key = (alert.dossier_code, alert.level, alert.step_index, TIMER_KIND[alert.type], alert.rung)
        planned = moments.get(key)
        if planned is None:
            unmatched += 1
            continue
        if alert.type == "alert.overdue" and planned != alert.due_at:
            due_mismatch += 1
        planned_all.append(planned)
        figures = by_type.setdefault(alert.type, empty())
        for bucket in (overall, figures):
            bucket["received"].append((item.received - planned).total_seconds())
            bucket["stored"].append((item.stored - planned).total_seconds())
            bucket["raised"].append((alert.raised_at - planned).total_seconds())
        raised_by_moment.setdefault(planned, []).append(alert.raised_at)
    first, last = (min(planned_all), max(planned_all)) if planned_all else (armed_at, armed_at)
    spacing = [
        (max(group) - min(group)).total_seconds() / (len(group) - 1)
        for group in raised_by_moment.values()
        if len(group) >= 5
    ]
    return {
        "count": len(alerts),
        "matched": len(alerts) - unmatched,
        "unmatched": unmatched,
        "overdue_due_at_mismatch": due_mismatch,
        "by_type_count": dict(Counter(item.alert.type for item in alerts)),
        "planned_window_seconds": round((last - first).total_seconds(), 1),
        "slack_from_armed_to_first_planned_seconds": round((first - armed_at).total_seconds(), 1),
        "alerts_per_moment_max": max((len(group) for group in raised_by_moment.values()), default=0),
        "handler_ms_per_alert_in_a_burst_p50": round(statistics.median(spacing) * 1000, 1)
        if spacing
        else None,
        "delay_ms": {name: summary_ms(values) for name, values in overall.items()},
        "delay_ms_by_type": {
            kind: {name: summary_ms(values) for name, values in figures.items()}
            for kind, figures in sorted(by_type.items())
        },
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if not 0 < args.fire <= args.dossiers:
        raise SystemExit("--fire must be between 1 and --dossiers")
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-sla-alerts-"))
    server = NatsServer(data_dir / "nats")
    server.start()
    try:
        processing_url = server.url_for("processing")
        async with started_processing(processing_url, data_dir, args.database) as (runtime, database):
            far_version, fire_version = await publish_procedures(
                runtime, reception_minutes=args.reception_minutes
            )
            background = args.dossiers - args.fire
            far_codes = [f"FAR-{number:06d}" for number in range(background)]
            fire_codes = [f"FIRE-{number:06d}" for number in range(args.fire)]
            began = time.perf_counter()
            await register(
                runtime,
                [submitted(code, n, "BENCH-SLA-FAR", far_version) for n, code in enumerate(far_codes)]
                + [
                    submitted(code, background + n, "BENCH-SLA-FIRE", fire_version)
                    for n, code in enumerate(fire_codes)
                ],
            )
            register_seconds = time.perf_counter() - began
            progress(f"{args.dossiers} dossiers registered in {register_seconds:.1f} s; accepting")
            await drained(runtime)
            arm_far = await accept_and_arm(runtime, far_codes, concurrency=args.concurrency)

            progress(f"{background} far dossiers armed: {arm_far}")
            async with started_listener(server.url_for()) as listener:
                arm_fire = await accept_and_arm(
                    runtime, fire_codes, concurrency=args.concurrency, spread=args.spread
                )
                armed_at = utc_now()
                progress(f"{args.fire} firing dossiers armed: {arm_fire}; waiting for alerts")
                expected = args.fire * ALERTS_PER_FIRING_DOSSIER
                horizon = args.reception_minutes * 60 + max(ESCALATION_SECONDS) + args.grace
                await listener.wait_for(expected, until=time.monotonic() + horizon)
                # Anything raised beyond the expected set (a duplicate, a stray stalled alert) shows too.
                await asyncio.sleep(2)
                alerts = list(listener.alerts)
                moments = await planned_moments(runtime, set(fire_codes))

                progress(f"{len(alerts)} alerts received; checking what is armed")
                began = time.perf_counter()
                armed = await sla_reconcile.read_armed(runtime.broker.config.connection_state.stream)
                read_seconds = time.perf_counter() - began
                checked = await sla_reconcile.reconcile(runtime.db, runtime.outbox, armed=armed)
                check_seconds = time.perf_counter() - began
                progress(f"checked in {check_seconds:.1f} s; re-arming every open dossier")
                await drained(runtime)
                await runtime.relay.stop()
                began = time.perf_counter()
                rearmed = await sla_reconcile.reconcile(runtime.db, runtime.outbox)
                reconcile_seconds = time.perf_counter() - began
                rows = await pending(runtime)
                runtime.relay.start()
                began = time.perf_counter()
                await drained(runtime)
                drain_seconds = time.perf_counter() - began
                await asyncio.sleep(args.settle)
                re_raised = len(listener.alerts) - len(alerts)

        return {
            "database": database,
            "dossiers": args.dossiers,
            "fire": args.fire,
            "register_seconds": round(register_seconds, 2),
            "arm": arm_far,
            "arm_firing_set": arm_fire,
            "alerts": {"expected": expected, **alert_figures(alerts, moments, armed_at)},
            "check": {
                "subjects_read": len(armed.timers) + len(armed.fired),
                "read_seconds": round(read_seconds, 2),
                "check_seconds": round(check_seconds, 2),
                "re_armed": checked,
            },
            "reconcile": {
                "open_dossiers": rearmed,
                "reconcile_seconds": round(reconcile_seconds, 2),
                "outbox_rows": rows,
                "publish_seconds": round(drain_seconds, 2),
                "rows_published_per_second": round(rows / drain_seconds, 1) if drain_seconds else None,
                "re_raised": re_raised,
            },
        }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=10_000, help="dossiers open in processing")
    parser.add_argument("--fire", type=int, default=1000, help="dossiers whose timers fire during the run")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--reception-minutes", type=int, default=1, help="the firing dossiers' reception step (minutes)"
    )
    parser.add_argument(
        "--spread", type=float, default=40.0, help="seconds over which their deadlines spread"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="accepts in flight")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds to wait for late alerts")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to watch for alerts after reconcile"
    )
    parser.add_argument("--listen", metavar="NATS_URL", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.listen:
        asyncio.run(listen(arguments.listen))
    else:
        # FastStream's access log writes to stdout: keep stdout for the JSON alone.
        with contextlib.redirect_stdout(sys.stderr):
            figures = asyncio.run(main(arguments))
        print(json.dumps(figures, ensure_ascii=False))
