"""Benchmark of the first slice: N citizens submit at once, an officer accepts each dossier as soon as
processing has registered it, and the clock stops when notify holds the citizen's receipt.

Prints JSON: throughput (dossiers/s, first submit to last receipt) and p50/p99 latencies of the submit
request and of submit-to-receipt (its polls wait longer and longer, up to 0.25 s, so a receipt is
timed at most that much late); with ``--start``, also each process's CPU milliseconds per
dossier and the services' resident memory. Runs against a running system, or starts one with
``--start``:

    python bench/pipeline.py --start --database sqlite -n 200
    python bench/pipeline.py --start --database postgres -n 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from client import Client

from shared.auth import issue_citizen_token, issue_token
from shared.db import drop_schemas
from shared.nats_server import free_port
from shared.settings import AuthSettings

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# The longest a poll waits: the receipt's time is then at most this much above the real one.
REGISTRATION_POLL_MAX_SECONDS = 0.5
RECEIPT_POLL_MAX_SECONDS = 0.25
SERVICES = ("intake", "processing", "notify")


def citizen_id(number: int) -> str:
    # Province 001, born 1990 (century digit 0), then a unique six-digit serial.
    return f"001090{number:06d}"


def birth_registration(number: int) -> dict[str, Any]:
    """The submission of citizen ``number``: a birth registration with its declaration."""
    return {
        "procedure_code": "1.001193",
        "applicant": {
            "full_name": f"Công dân {number}",
            "id_number": citizen_id(number),
            "phone": "0905123456",
            "address": "Hải Châu, Đà Nẵng",
        },
        "documents": [{"name": "Tờ khai đăng ký khai sinh"}],
    }


def citizen_session(id_number: str) -> dict[str, str]:
    """The headers of a citizen session for ``id_number``, as the one-time code sign-in opens it."""
    return {"Authorization": f"Bearer {issue_citizen_token(id_number, secret=AuthSettings().secret)}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def one_dossier(
    number: int, clients: dict[str, Client], headers: dict[str, str], poll: float
) -> tuple[float, float]:
    id_number = citizen_id(number)
    body = birth_registration(number)
    started = time.perf_counter()
    response = await clients["intake"].post("/api/v1/dossiers", json=body)
    response.raise_for_status()
    submitted = time.perf_counter()
    code = response.json()["code"]
    # The officer sees the dossier once processing has registered it, then accepts it. Both look
    # less and less often, as bench/lifecycle.py's people do: 50 citizens asking notify every 50 ms
    # loaded it with reads more than with the receipts, which then came later, and were asked for
    # more often still.
    wait = poll
    while True:
        seen = await clients["processing"].get(f"/api/v1/dossiers/{code}", headers=headers)
        if seen.status_code != 404:
            break
        await asyncio.sleep(wait)
        wait = min(wait * 1.5, REGISTRATION_POLL_MAX_SECONDS)
    accepted = await clients["processing"].post(f"/api/v1/dossiers/{code}/accept", headers=headers)
    if accepted.status_code != 200:
        raise RuntimeError(f"accept {code}: {accepted.status_code} {accepted.text}")
    # The citizen reads their notifications with a session bound to their CCCD.
    citizen = citizen_session(id_number)
    wait = poll
    while True:
        found = await clients["notify"].get("/api/v1/notifications", headers=citizen)
        if any(row["dossier_code"] == code for row in found.json()):
            return submitted - started, time.perf_counter() - started
        await asyncio.sleep(wait)
        wait = min(wait * 1.25, RECEIPT_POLL_MAX_SECONDS)


async def run(args: argparse.Namespace, urls: dict[str, str]) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {issue_token('demo-officer', secret=AuthSettings().secret)}"}
    clients = {name: Client(url, connections=args.concurrency * 2) for name, url in urls.items()}
    semaphore = asyncio.Semaphore(args.concurrency)

    async def bounded(number: int) -> tuple[float, float]:
        async with semaphore:
            return await one_dossier(number, clients, headers, args.poll)

    try:
        began = time.perf_counter()
        results = await asyncio.gather(*(bounded(args.offset + number) for number in range(args.n)))
        elapsed = time.perf_counter() - began
    finally:
        for client in clients.values():
            await client.aclose()
    submit = [result[0] * 1000 for result in results]
    receipt = [result[1] * 1000 for result in results]
    return {
        "database": args.database,
        "dossiers": args.n,
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 2),
        "throughput_dossiers_per_s": round(args.n / elapsed, 1),
        "submit_ms": {"p50": round(statistics.median(submit), 1), "p99": round(percentile(submit, 0.99), 1)},
        "submit_to_receipt_ms": {
            "p50": round(statistics.median(receipt), 1),
            "p99": round(percentile(receipt, 0.99), 1),
        },
    }


@dataclass(frozen=True)
class StartedSystem:
    urls: dict[str, str]
    pid: int  # the `motcua up` process, whose children are the services and nats-server


@contextmanager
def started_system(database: str, *, keep_data: bool = False) -> Iterator[StartedSystem]:
    """``motcua up`` in a fresh data folder on free ports, stopped with Ctrl-C's signal afterwards.
    The folder (the log, the SQLite files, the NATS store) is removed then, unless ``keep_data``;
    a system that did not start leaves it, with its log, for a look."""
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-bench-"))
    ports = {service: free_port() for service in SERVICES}
    env = {
        **os.environ,
        "MOTCUA_DATA_DIR": str(data_dir),
        # The bench acts as the demo officer.
        "MOTCUA_DEMO": "true",
        "MOTCUA_NATS_PORT": str(free_port()),
        **{f"MOTCUA_{service.upper()}_PORT": str(port) for service, port in ports.items()},
    }
    if database == "postgres":
        suffix = data_dir.name.replace("-", "_")
        for service in SERVICES:
            env[f"MOTCUA_{service.upper()}_DATABASE_URL"] = os.environ.get(
                "MOTCUA_BENCH_POSTGRES_URL", POSTGRES_URL
            )
            env[f"MOTCUA_{service.upper()}_DATABASE_SCHEMA"] = f"{suffix}_{service}"
    # The services write their logs to the same stdout: it goes to a file, which is read for the
    # ready line. A pipe nobody reads any more would fill, and every service would stop at its
    # next log line.
    log_path = data_dir / "motcua-up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    with log_path.open() as lines:
        while True:
            line = lines.readline()
            if not line:
                if process.poll() is not None:
                    raise RuntimeError(f"the system did not start; see {log_path}")
                time.sleep(0.1)
                continue
            if "Ctrl-C stops" in line:
                break
            if "NOT READY" in line:
                process.kill()
                raise RuntimeError(f"the system did not start: {line.strip()}; see {log_path}")
    os.environ["MOTCUA_DATA_DIR"] = str(data_dir)  # so that the token uses the system's secret
    try:
        yield StartedSystem(
            urls={service: f"http://127.0.0.1:{port}" for service, port in ports.items()}, pid=process.pid
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        if database == "postgres":
            # The run's own scratch schemas: left behind, they pile up in the shared database.
            schemas = [f"{suffix}_{service}" for service in SERVICES]
            asyncio.run(drop_schemas(env["MOTCUA_INTAKE_DATABASE_URL"], schemas))
        if keep_data:
            print(f"the system's data is kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


Run = Callable[[argparse.Namespace, dict[str, str]], Coroutine[Any, Any, dict[str, object]]]


@dataclass(frozen=True)
class Usage:
    """What the system's processes have used so far: CPU seconds (user and system) and resident
    memory now and at its peak (MiB), per process name."""

    cpu_s: dict[str, float]
    rss_mb: dict[str, float]
    peak_rss_mb: dict[str, float]


def process_usage(root: int) -> Usage:
    """The services and nats-server under ``root``, by name, and PostgreSQL's processes (the whole
    server's: its backends are not children of the system), read from ``/proc``; empty where there is
    no ``/proc``."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
        words = command.split()
        if "serve" in words and words.index("serve") + 1 < len(words):
            names[pid] = words[words.index("serve") + 1]
        elif "nats-server" in command:
            names[pid] = "nats"
        elif command.startswith("postgres"):
            names[pid] = "postgres"

    def under_root(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    per_second = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, float] = {}
    rss: dict[str, float] = {}
    peak: dict[str, float] = {}
    for pid, name in names.items():
        if name != "postgres" and not under_root(pid):
            continue
        cpu[name] = cpu.get(name, 0.0) + ticks[pid] / per_second
        if name == "postgres":
            continue
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        except OSError:
            continue
        rss[name] = int(status["VmRSS"].split()[0]) / 1024
        peak[name] = int(status["VmHWM"].split()[0]) / 1024
    return Usage(cpu_s=cpu, rss_mb=rss, peak_rss_mb=peak)


def usage_figures(before: Usage, after: Usage, *, dossiers: int) -> dict[str, Any]:
    """CPU milliseconds per dossier of each process over the run, and their memory at its end: the
    cost of a dossier, which varies less from run to run than the throughput on a shared machine."""
    cpu = {
        name: round((seconds - before.cpu_s.get(name, 0.0)) * 1000 / dossiers, 1)
        for name, seconds in sorted(after.cpu_s.items())
    }
    return {
        "cpu_ms_per_dossier": cpu | {"total": round(sum(cpu.values()), 1)},
        "rss_mb": {name: round(value) for name, value in sorted(after.rss_mb.items())},
        "peak_rss_mb": {name: round(value) for name, value in sorted(after.peak_rss_mb.items())},
    }


def bench_main(description: str, run: Run, *, dossiers: int, dossiers_help: str) -> None:
    """A benchmark's command line: its figures as JSON, against ``make up`` or a system it starts."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=dossiers, help=dossiers_help)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between status polls")
    parser.add_argument("--offset", type=int, default=0, help="first citizen serial (keeps CCCDs apart)")
    parser.add_argument("--start", action="store_true", help="start a system of its own with `motcua up`")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--keep-data", action="store_true", help="with --start: keep the system's data folder and log"
    )
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--processing", default="http://127.0.0.1:8002")
    parser.add_argument("--notify", default="http://127.0.0.1:8003")
    args = parser.parse_args()
    if args.start:
        with started_system(args.database, keep_data=args.keep_data) as system:
            before = process_usage(system.pid)
            result = uvloop.run(run(args, system.urls))
            after = process_usage(system.pid)
        result |= usage_figures(before, after, dossiers=args.n)
    else:
        urls = {"intake": args.intake, "processing": args.processing, "notify": args.notify}
        result = uvloop.run(run(args, urls))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    bench_main(__doc__ or "", run, dossiers=200, dossiers_help="dossiers to submit")
