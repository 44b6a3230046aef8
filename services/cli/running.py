"""``motcua up`` and ``motcua serve``: the embedded system, or one service."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from services.cli.common import SERVICES, check_database_urls, check_secret, database, migration_history
from shared.settings import (
    CommonSettings,
    HttpSettings,
    MigrationSettings,
    ServiceName,
)


def _frozen_after_start() -> type[Any]:
    import uvicorn

    class FrozenAfterStart(uvicorn.Server):
        """A server that, once its app has started, leaves what the start made (modules, mappers,
        validators, routes: hundreds of thousands of objects that live as long as the process) out
        of the garbage collector's passes: each pass over the old generations walked all of them,
        a few per cent of a busy service's CPU."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            gc.collect()
            gc.freeze()

    return FrozenAfterStart


def _serve(service: ServiceName, host: str, port: int, internal: tuple[str, int] | None = None) -> None:
    """Serve ``service`` on ``host:port`` and, when given, on the internal address too: one app
    (one lifespan) on both sockets; the app tells them apart by the port a request came in on."""
    import uvicorn

    config = uvicorn.Config(
        f"services.{service}.app:app_factory",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        # Longer than the usual proxy idle timeout, so a kept-alive connection is never closed
        # under a client that is about to reuse it.
        timeout_keep_alive=75,
    )
    sockets = [config.bind_socket()]
    if internal is not None:
        internal_host, internal_port = internal
        sockets.append(uvicorn.Config(config.app, host=internal_host, port=internal_port).bind_socket())
    _frozen_after_start()(config).run(sockets=sockets)


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def up(args: argparse.Namespace) -> int:
    """Start nats-server with JetStream in the data folder, then the three services; Ctrl-C stops all.

    Each service migrates its own database as it starts (unless migrations are run by hand)."""
    from shared.nats_server import NatsServer

    if not check_database_urls(SERVICES):
        return 2
    # Made (or checked) once, before three services race to create it.
    if not check_secret():
        return 2
    common = CommonSettings()
    data_dir = common.ensure_data_dir().resolve()
    http = HttpSettings()
    nats = NatsServer(data_dir / "nats", port=args.nats_port)
    print(f"motcua: starting nats-server {nats.binary} on {nats.url} (JetStream in {nats.store_dir})")
    nats.start()
    env = {**os.environ, "MOTCUA_NATS_URL": nats.url, "MOTCUA_DATA_DIR": str(data_dir)}
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in SERVICES:
            port = http.port(service)
            command = [
                sys.executable,
                "-m",
                "services.cli",
                "serve",
                service,
                "--host",
                http.host,
                "--port",
                str(port),
            ]
            children.append(subprocess.Popen(command, env=env, start_new_session=True))
        for service in SERVICES:
            url = f"http://{http.host}:{http.port(service)}"
            internal_port = http.internal_port(service)
            docs = url if internal_port is None else f"http://{http.internal_host}:{internal_port}"
            ready = _wait_ready(f"{url}/readyz", timeout=60)
            print(f"motcua: {service:<10} {url}  docs {docs}/docs  {'ready' if ready else 'NOT READY'}")
        first = "demo-officer" if common.demo else "USER (after `motcua admin create USER`)"
        print(f"motcua: data in {data_dir}; `motcua token {first}` prints a bearer token. Ctrl-C stops.")
        if common.demo:
            from services.processing.sign_in.demo import DEMO_PASSWORD

            print(
                f"motcua: staff pages at http://{http.host}:{http.port('processing')}/ : sign in as "
                f"demo-officer (or any demo user) with the demo password {DEMO_PASSWORD}"
            )
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"motcua: a service exited with {child.returncode}; stopping everything")
                    stopping = True
            time.sleep(0.3)
    finally:
        print("motcua: stopping")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        nats.stop()
        print("motcua: stopped")
    return 0


async def _ready_to_serve(service: ServiceName) -> bool:
    """Migrate (or, with migrations run by hand, check) the database before the server is up, so that
    a database the service cannot start on is explained in one paragraph instead of a traceback.
    The service's own start then finds it at head."""
    from shared.migrations import MigrationError, prepare_database

    async with database(service) as db:
        try:
            await prepare_database(db, migration_history(service), mode=MigrationSettings().mode)
        except MigrationError as exc:
            print(f"motcua: {exc}", file=sys.stderr)
            return False
    return True


def serve(args: argparse.Namespace) -> int:
    from shared.telemetry import configure_logging

    if not check_database_urls([args.service]) or not check_secret():
        return 2
    configure_logging()
    if not asyncio.run(_ready_to_serve(args.service)):
        return 1
    http = HttpSettings()
    internal_port = http.internal_port(args.service)
    internal = None if internal_port is None else (http.internal_host, internal_port)
    _serve(args.service, args.host or http.host, args.port or http.port(args.service), internal)
    return 0
