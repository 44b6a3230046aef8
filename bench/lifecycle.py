"""Benchmark of a dossier's whole life through the real HTTP APIs.

A citizen submits a birth registration (``1.001193``) to intake; officers of each step's unit act on
it through processing: accept → forward → forward → forward → approve → return-result (with the
submission, 7 transitions, and everything that follows them: projections, notifications, SLA
timers); the clock stops when the citizen's view (intake) shows status 10. N dossiers, C at a time.

Prints JSON: dossiers and transitions a second; p50 and p99 of the whole life, of the submission, of
the wait until processing has registered it, of single officer actions, and of the lag from
processing's answer to the return until intake shows status 10; and the errors, which must be 0.
With ``--start``, also each process's CPU milliseconds per dossier (the services, nats-server and
the PostgreSQL server) and the services' resident memory, now and at its peak.
Runs against ``make up``, or starts a system of its own with ``--start``:

    python bench/lifecycle.py --start --database sqlite -n 300 --concurrency 50
    python bench/lifecycle.py --start --database postgres -n 300 --concurrency 50
    python bench/lifecycle.py -n 300 --concurrency 50                 # against `make up`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

from client import Client, TransportError
from pipeline import bench_main, birth_registration, citizen_id, citizen_session, percentile

from shared.auth import issue_token
from shared.settings import AuthSettings

# The birth registration's steps, each acted on by an officer of its unit (seed/catalog.toml).
DESK, JUSTICE, LEADERS, CLERKS = "H56.HC.MOTCUA", "H56.HC.TUPHAP", "H56.HC.LD", "H56.HC.VT"
WALK: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("accept", DESK, {}),
    ("forward", DESK, {}),
    ("forward", JUSTICE, {}),
    ("forward", LEADERS, {}),
    ("approve", CLERKS, {"result": {"name": "Giấy khai sinh"}}),
    ("return-result", DESK, {}),
)
TRANSITIONS = len(WALK) + 1  # and the submission
REGISTRATION_POLL_MAX_SECONDS = 0.5
VIEW_POLL_MAX_SECONDS = 0.25


def officer(unit_code: str) -> str:
    return f"{unit_code.lower().replace('.', '-')}-officer"


@dataclass
class Figures:
    lives: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    registrations: list[float] = field(default_factory=list)
    actions: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Where each dossier's walk is, to say where an error struck.
    stage: dict[int, str] = field(default_factory=dict)


async def one_life(
    number: int,
    clients: dict[str, Client],
    tokens: dict[str, dict[str, str]],
    figures: Figures,
    poll: float,
) -> None:
    figures.stage[number] = "submit"
    citizen = citizen_session(citizen_id(number))
    started = time.perf_counter()
    response = await clients["intake"].post("/api/v1/dossiers", json=birth_registration(number))
    if response.status_code != 201:
        figures.errors.append(f"submit: {response.status_code} {response.text[:200]}")
        return
    code = response.json()["code"]
    submitted = time.perf_counter()
    figures.submits.append(submitted - started)
    # The desk sees the dossier once processing has registered it. It looks again less and less
    # often, as a person would: 50 lives looking every 50 ms would load processing with reads more
    # than with the work itself, and slow down the registration they wait for.
    wait = poll
    while True:
        seen = await clients["processing"].get(f"/api/v1/dossiers/{code}", headers=tokens[DESK])
        if seen.status_code != 404:
            break
        await asyncio.sleep(wait)
        wait = min(wait * 1.5, REGISTRATION_POLL_MAX_SECONDS)
    figures.registrations.append(time.perf_counter() - submitted)
    for action, unit_code, payload in WALK:
        figures.stage[number] = f"{action} {code}"
        began = time.perf_counter()
        acted = await clients["processing"].post(
            f"/api/v1/dossiers/{code}/{action}", json=payload, headers=tokens[unit_code]
        )
        figures.actions.append(time.perf_counter() - began)
        if acted.status_code != 200:
            figures.errors.append(f"{action} {code}: {acted.status_code} {acted.text[:200]}")
            return
    answered = time.perf_counter()
    figures.stage[number] = f"citizen view {code}"
    # The citizen looks less and less often too, but not less than every 0.25 s: the lag measured is
    # then at most that much more than the real one, never less.
    wait = poll
    while True:
        view = await clients["intake"].get(f"/api/v1/dossiers/{code}", headers=citizen)
        if view.status_code == 200 and view.json()["status"] == 10:
            break
        await asyncio.sleep(wait)
        wait = min(wait * 1.25, VIEW_POLL_MAX_SECONDS)
    done = time.perf_counter()
    figures.lags.append(done - answered)
    figures.lives.append(done - started)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0}
    return {
        "p50": round(statistics.median(values) * 1000, 1),
        "p99": round(percentile(values, 0.99) * 1000, 1),
    }


async def run(args: argparse.Namespace, urls: dict[str, str]) -> dict[str, object]:
    secret = AuthSettings().secret
    tokens = {
        unit: {"Authorization": f"Bearer {issue_token(officer(unit), secret=secret)}"}
        for unit in {unit for _, unit, _ in WALK}
    }
    clients = {name: Client(url, connections=args.concurrency * 2) for name, url in urls.items()}
    semaphore = asyncio.Semaphore(args.concurrency)
    figures = Figures()

    async def bounded(number: int) -> None:
        async with semaphore:
            try:
                await one_life(number, clients, tokens, figures, args.poll)
            except TransportError as exc:
                figures.errors.append(f"{figures.stage.get(number)}: {exc!r}")

    try:
        began = time.perf_counter()
        await asyncio.gather(*(bounded(args.offset + number) for number in range(args.n)))
        elapsed = time.perf_counter() - began
    finally:
        for client in clients.values():
            await client.aclose()
    completed = len(figures.lives)
    return {
        "database": args.database,
        "dossiers": args.n,
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 2),
        "dossiers_per_s": round(completed / elapsed, 2),
        "transitions_per_s": round(completed * TRANSITIONS / elapsed, 1),
        "life_ms": summary(figures.lives),
        "submit_ms": summary(figures.submits),
        # From intake's answer until the desk finds the dossier in processing.
        "registration_wait_ms": summary(figures.registrations),
        "officer_action_ms": summary(figures.actions),
        "citizen_view_lag_ms": summary(figures.lags),
        # Status polls included: what the bench itself asked of each service.
        "requests_per_dossier": {
            name: round(client.requests / args.n, 1) for name, client in clients.items()
        },
        "errors": len(figures.errors),
        "first_errors": figures.errors[:5],
    }


if __name__ == "__main__":
    bench_main(__doc__ or "", run, dossiers=300, dossiers_help="dossiers to walk")
