"""The production shape on one machine: a 3-node NATS cluster with R3 streams, two OS processes of
each service on PostgreSQL (a schema per service), and an SMTP server, all on local free ports.

Every process writes its log to a file of its own; ``tails`` gives the end of each for a failure
report. Processes are killed with SIGKILL and started again on the same port and store.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shared.nats_server import NatsCluster, free_port
from shared.settings import ServiceName

SERVICES: tuple[ServiceName, ...] = ("intake", "processing", "notify")
REPLICAS = 2
LOG_TAIL_LINES = 40
# How long a starting replica may take to answer /readyz (database and NATS reachable).
START_PATIENCE_SECONDS = 60.0


@dataclass
class ServiceProcess:
    """One replica of a service: ``motcua serve`` as an OS process on its own port."""

    service: ServiceName
    replica: int
    port: int
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.replica}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"---- start {self.starts} of {self.name} on port {self.port}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "serve",
                self.service,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self, *, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def wait_ready(self, client: httpx.AsyncClient, *, timeout: float) -> None:  # noqa: ASYNC109
        """Until ``/readyz`` answers 200: the database and NATS are both reachable."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.exited is not None:
                raise RuntimeError(f"{self.name} exited with {self.exited}\n{tail(self.log_path)}")
            try:
                response = await client.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.TransportError as exc:
                last = repr(exc)
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout}s: {last}\n{tail(self.log_path)}")


# Access-log lines of answered requests and health probes say nothing a failure report needs.
_QUIET = re.compile(r'uvicorn\.access .*("GET /readyz|" [23]\d\d$)')


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, without the access-log lines of successful requests."""
    if not path.exists():
        return f"({path} does not exist)"
    content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join([line for line in content if not _QUIET.search(line)][-lines:])


@dataclass
class Deployment:
    """What the chaos test runs: the NATS cluster, the services' replicas and where they log."""

    nats: NatsCluster
    replicas: dict[ServiceName, list[ServiceProcess]]
    schemas: dict[ServiceName, str]
    log_dir: Path

    def urls(self, service: ServiceName) -> list[str]:
        return [replica.url for replica in self.replicas[service]]

    def processes(self) -> Iterable[ServiceProcess]:
        for service in SERVICES:
            yield from self.replicas[service]

    async def wait_ready(self, client: httpx.AsyncClient, *, timeout: float) -> None:  # noqa: ASYNC109
        await asyncio.gather(*(replica.wait_ready(client, timeout=timeout) for replica in self.processes()))

    def stop(self) -> None:
        for replica in self.processes():
            replica.stop()
        self.nats.stop()

    def cpu_seconds(self) -> dict[str, float]:
        """User plus system CPU time of each running process since its last start, by name and
        pid (the pid is also in the Message-ID of each email a notify replica sent)."""
        running = [
            (f"{replica.name} pid {replica.process.pid}", replica.process.pid)
            for replica in self.processes()
            if replica.process is not None and replica.exited is None
        ]
        running += [
            (f"nats {node.port} pid {node.process.pid}", node.process.pid)
            for node in self.nats.nodes
            if node.process is not None and node.running
        ]
        return {name: cpu_seconds(pid) for name, pid in running}

    def tails(self) -> str:
        """The end of every process's log, NATS nodes included, for a failure report."""
        parts = [
            f"==== {replica.name} ({replica.log_path})\n{tail(replica.log_path)}"
            for replica in self.processes()
        ]
        parts += [
            f"==== nats {node.cluster.server_name if node.cluster else node.port} ({node.log_file})\n"
            f"{tail(node.log_file, 15)}"
            for node in self.nats.nodes
        ]
        return "\n".join(parts)


def service_environment(
    *,
    service: ServiceName,
    nats_url: str,
    nats_password: str,
    database_url: str,
    schema: str,
    data_dir: Path,
    jwt_secret: str,
    smtp_port: int,
) -> dict[str, str]:
    """The settings of one replica. Retries, leases and polls are shortened so that what a killed
    process held is taken over within seconds rather than minutes."""
    prefix = f"MOTCUA_{service.upper()}_"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MOTCUA_") and not key.startswith("OTEL_")
    }
    env.update(
        {
            "MOTCUA_NATS_URL": nats_url,
            "MOTCUA_NATS_USER": service,
            "MOTCUA_NATS_PASSWORD": nats_password,
            # The load acts as the demo users.
            "MOTCUA_DEMO": "true",
            "MOTCUA_NATS_STREAM_REPLICAS": "3",
            "MOTCUA_NATS_ACK_WAIT_SECONDS": "10",
            "MOTCUA_NATS_RETRY_DELAYS_SECONDS": json.dumps([1, 2, 4, 8, 15]),
            "MOTCUA_NATS_START_WAIT_SECONDS": "2",
            "MOTCUA_OUTBOX_IDLE_POLL_SECONDS": "0.5",
            "MOTCUA_JWT_SECRET": jwt_secret,
            "MOTCUA_DATA_DIR": str(data_dir),
            f"{prefix}DATABASE_URL": database_url,
            f"{prefix}DATABASE_SCHEMA": schema,
        }
    )
    if service == "notify":
        env.update(
            {
                "MOTCUA_NOTIFY_SMTP_ENABLED": "true",
                "MOTCUA_NOTIFY_SMTP_HOST": "127.0.0.1",
                "MOTCUA_NOTIFY_SMTP_PORT": str(smtp_port),
                # The fake mail server speaks no TLS.
                "MOTCUA_NOTIFY_SMTP_ALLOW_PLAINTEXT": "true",
                "MOTCUA_NOTIFY_SMTP_FROM_ADDRESS": "motcua@chaos.motcua.vn",
                "MOTCUA_NOTIFY_SMTP_START_TLS": "false",
                # A killed replica's leased messages go to the other one once the lease lapses:
                # the longest conversation (14 waits of this timeout) plus the margin, 16 s.
                "MOTCUA_NOTIFY_SMTP_TIMEOUT_SECONDS": "1",
                "MOTCUA_NOTIFY_DELIVERY_LEASE_MARGIN_SECONDS": "2",
                "MOTCUA_NOTIFY_DELIVERY_POLL_SECONDS": "1",
                "MOTCUA_NOTIFY_DELIVERY_BACKOFF_SECONDS": json.dumps([0.5, 1, 2]),
                "MOTCUA_NOTIFY_DELIVERY_MAX_ATTEMPTS": "8",
            }
        )
    return env


def deployment(
    *,
    base_dir: Path,
    database_url: str,
    schema_prefix: str,
    jwt_secret: str,
    smtp_port: int,
) -> Deployment:
    """Everything laid out (ports, folders, settings); nothing started yet."""
    nats = NatsCluster(base_dir / "nats")
    log_dir = base_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    schemas = {service: f"{schema_prefix}_{service}" for service in SERVICES}
    replicas: dict[ServiceName, list[ServiceProcess]] = {}
    for service in SERVICES:
        replicas[service] = []
        for replica in range(REPLICAS):
            env = service_environment(
                service=service,
                nats_url=nats.url,
                nats_password=nats.passwords[service],
                database_url=database_url,
                schema=schemas[service],
                data_dir=base_dir / f"data-{service}-{replica}",
                jwt_secret=jwt_secret,
                smtp_port=smtp_port,
            )
            replicas[service].append(
                ServiceProcess(
                    service=service,
                    replica=replica,
                    port=free_port(),
                    env=env,
                    log_path=log_dir / f"{service}-{replica}.log",
                )
            )
    return Deployment(nats=nats, replicas=replicas, schemas=schemas, log_dir=log_dir)


def cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat: after the command in parentheses, utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
